"""``hmipv6 testbed run``: a scenario on real kernels — namespaces, veths, daemons and kernels.

Theory of operation
-------------------
:func:`run` loads the scenario (built-in name or file, ``--set`` overrides, ``--duration``),
builds its :class:`~hmipv6.net.topology.Topology`, opens one capture socket (``AF_PACKET``,
every EtherType, made inside the link's namespace) per link and cell, and launches one
daemon process per node (``python -m hmipv6.cli node ... --netns NS``: the daemon enters its
namespace itself, through pyroute2's ``setns``), but for the kernel nodes: by default
(``kernel_nodes``; ``--daemon-nodes`` turns it off) the scenario's ordinary routers and
correspondents without route optimisation are plain Linux nodes
(:mod:`hmipv6.net.kernel_nodes`), each with one link relay process instead
(:mod:`hmipv6.net.relay`, ``python -m hmipv6.net.relay ... --netns NS``) that emulates the
links in the kernel's sending direction. Once every daemon and relay printed ``ready`` it picks
the run's origin ``t0`` (a monotonic time slightly ahead) and sends ``start t0`` to all, so
they share one clock. Moves are applied at wall-clock times as link state: detaching sets the
mobile node's end of its cell down at ``at``, attaching sets the new one up ``l2_handover``
later (at once for a first attachment), as the simulator's radio does. At ``t0 + duration``
every daemon gets ``stop``, writes its final state and exits; the logs are replayed into the
report (:func:`hmipv6.net.eventlog.report_from_logs`, ``"world": "testbed"``), and the
topology is deleted whatever happened.

Output directory (``report.json``, ``pcap/`` and ``logs/`` of an earlier run are removed
first)::

    report.json            format hmipv6-report/1, times in wall-clock seconds since t0
    pcap/<link>.pcap       Ethernet (LINKTYPE 1) captures, timestamps = seconds since t0
    logs/<node>.jsonl      each daemon's log (net.eventlog); logs/<node>.err its stderr
    config/<node>.toml     each daemon's configuration (net.node_config), started from it
    apps/<name>.out|.err   each real application's output (``[[apps]]``, net.apps)
    apps.png               what the applications saw over time (net.app_summary)

Real applications (``[[apps]]`` in the scenario, or ``apps``): commands started in a node's
namespace at their time (:mod:`hmipv6.net.apps`), on mobile nodes (whose home address is then
on a TUN device, :mod:`hmipv6.net.tun`) and kernel nodes (``kernel_nodes``,
:mod:`hmipv6.net.kernel_nodes`); the report's ``apps`` summarises each
(:mod:`hmipv6.net.app_summary`: loss and gaps for ping, throughput per interval,
retransmissions and stalls for iperf3, the echo session's waits).

With ``export_sa`` (``--export-sa FILE``) the run also writes FILE, Wireshark's ``esp_sa``
table of every SA the daemons used, as the simulator does: the seed-derived SAs (the same in
every daemon, so computed here from the scenario) and, under the ``rfc5380`` profile, the
Child SAs each mobile node negotiated with IKEv2 (from its daemon's final log record), with
the IKE SAs' keys in ``FILE.ikev2`` (``ikev2_decryption_table``). With the table, Wireshark or
tshark shows the captured BUs and BAs decrypted and their ICVs checked.

Faults are applied at their wall-clock times too, by the launcher: ``crash`` / ``restart``
and ``preference`` (to the MAP, and ``set_map_preference`` to every access router advertising
it) are control lines to the daemons (:mod:`hmipv6.net.daemon`); ``link-down`` / ``link-up``
set the kernel links down or up (both ends of each wired link concerned, an access router's
cell bridge) and tell the daemons at both ends, whose engines mark the interface as the
simulator does. With ``--duration``, moves and faults after the end are left out
(:func:`hmipv6.sim.scenario.load`).

Determinism: the provisioned keys and the addresses are the scenario's, as in the simulator,
but the times are the machine's and the engines' random draws the operating system's
(IKEv2 nonces and Diffie-Hellman keys, return-routability keys, BU sequence numbers, RA
jitter: :func:`hmipv6.sim.engines.system_entropy`): two runs differ in timings (and possibly
in RA instants and packets lost during a handover) and in those values, never in which
messages are exchanged.

Links: this kernel has no netem, so each link is emulated at its sender (egress shaping with
the simulator's link model: delay, serialisation at the bandwidth, finite queue, seeded loss;
:mod:`hmipv6.net.shaper`): by the daemon, or for a kernel node by its relay, so a link
between two kernel nodes is emulated in both directions as one between two daemons (see
:mod:`hmipv6.net.daemon` for the model's limits and precision). Latencies are
then the scenario's plus the daemons' processing and timer lateness (typically under a
millisecond per hop on an idle machine, a few on a loaded one). ``shaping=False``
(``--no-shaping``) runs the veths at full speed. Each interface's emulation counters (tail
drops, losses) are in the report under ``testbed.egress``, the relays' with the daemons'.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hmipv6.errors import HMIPv6Error
from hmipv6.net.app_summary import plot_apps, summarise
from hmipv6.net.apps import App, AppResult, AppRunner
from hmipv6.net.eventlog import read_logs, report_from_logs
from hmipv6.net.kernel_nodes import kernel_node_names
from hmipv6.net.sqlite_store import store_path
from hmipv6.net.topology import Topology
from hmipv6.sim.engines import export_sa_tables, provisioned_sa_table
from hmipv6.sim.report import dumps
from hmipv6.sim.scenario import (
    AccessRouterSpec,
    Fault,
    MapSpec,
    MobileNodeSpec,
    Scenario,
    load,
)
from hmipv6.wire.pcap import LINKTYPE_ETHERNET, PcapWriter

__all__ = ["TestbedError", "TestbedResult", "check_environment", "run"]

ETH_P_ALL = 0x0003
START_MARGIN = 0.3
"""Seconds between the decision to start and ``t0`` (so every daemon has it in time)."""


class TestbedError(HMIPv6Error):
    """The testbed cannot run here (not root, no network namespaces) or a daemon failed."""


@dataclass
class TestbedResult:
    report: dict[str, Any]
    out: Path
    pcap_files: dict[str, Path] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    sa_files: dict[str, Path] = field(default_factory=dict)
    """``--export-sa``: ``"esp_sa"`` (and ``"ikev2"`` under IKEv2) -> the file written."""
    apps: dict[str, AppResult] = field(default_factory=dict)
    """The real commands run (``apps``), by name: output files and exit status."""


def check_environment() -> None:
    """Raise :class:`TestbedError` unless this process can build namespaces."""
    if os.geteuid() != 0:
        raise TestbedError("the testbed needs root (network namespaces, veth, AF_PACKET)")
    if not os.path.exists("/proc/self/ns/net"):
        raise TestbedError("this kernel has no network namespace support (/proc/self/ns/net)")
    try:
        import pyroute2  # noqa: F401
    except ImportError as e:  # pragma: no cover - pyroute2 is a dependency
        raise TestbedError(f"pyroute2 is needed: {e}") from None


class _Capture:
    """One thread writing every capture socket's frames to its pcap."""

    def __init__(self, topo: Topology, pcap_dir: Path) -> None:
        from pyroute2 import netns

        self.t0 = time.monotonic()
        self.files: dict[str, Path] = {}
        self._socks: list[tuple[socket.socket, PcapWriter, Any]] = []
        pcap_dir.mkdir(parents=True, exist_ok=True)
        for name, (node, ifname) in topo.plan.captures.items():
            s = netns.create_socket(topo.namespace(node), socket.AF_PACKET, socket.SOCK_RAW,
                                    socket.htons(ETH_P_ALL))
            s.bind((topo.wire(node, ifname), ETH_P_ALL))
            s.setblocking(False)
            path = pcap_dir / f"{name}.pcap"
            f = path.open("wb")
            self._socks.append((s, PcapWriter(f, LINKTYPE_ETHERNET), f))
            self.files[name] = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        by_fd = {s.fileno(): (s, w) for s, w, _ in self._socks}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(by_fd), [], [], 0.1)
            for fd in ready:
                s, w = by_fd[fd]
                while True:
                    try:
                        frame = s.recv(65535)
                    except OSError:  # nothing more now, or ENETDOWN (a link-down fault)
                        break
                    w.write(frame, max(time.monotonic() - self.t0, 0.0))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s, _, f in self._socks:
            s.close()
            f.close()


_INTERRUPT = threading.Event()
"""Set by :func:`note_interrupt`, consumed by :func:`_check_interrupt`."""


def note_interrupt() -> None:
    """Called by the command line's Ctrl-C and SIGTERM handlers before they raise
    ``KeyboardInterrupt``. CPython drops an exception raised while it runs an at-fork hook
    or a finaliser ("Exception ignored in ..."): a Ctrl-C landing while the launcher forks
    (an ``ip`` command, pyroute2's helpers) was lost, and the run went on to its end (seen
    once in CI). The run loop checks after each step (:func:`_check_interrupt`)."""
    _INTERRUPT.set()


def interrupted() -> bool:
    """Has :func:`note_interrupt` been called (the run is stopping)?"""
    return _INTERRUPT.is_set()


def _check_interrupt() -> None:
    """Raise the ``KeyboardInterrupt`` an interrupt noted by :func:`note_interrupt` stands
    for, if Python dropped it."""
    if interrupted():
        raise KeyboardInterrupt


@contextmanager
def _finishing(t0: list[float]) -> Iterator[list[float]]:
    """While the daemons stop and the namespaces are removed: a further Ctrl-C or SIGTERM
    (a user pressing it again to hurry) would cut that short and leave namespaces and
    processes behind, so it is noted (seconds since ``t0[0]``, in the list yielded), said
    once on stderr, and the clean-up goes on. Only the main thread can own signals; from
    another thread this does nothing."""
    noted: list[float] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return

    def note(*_: object) -> None:
        if not noted:
            print("hmipv6 testbed: stopping the daemons and removing the namespaces "
                  "(they would be left behind if stopped now)", file=sys.stderr, flush=True)
        noted.append(round(time.monotonic() - t0[0], 3))

    old = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield noted
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _link_ops(sc: Scenario) -> list[tuple[float, str, str, bool]]:
    """``(at, mn, ar, up)`` link changes carrying out the moves (the simulator's radio)."""
    ops: list[tuple[float, str, str, bool]] = []
    cell: dict[str, str | None] = {}
    for mv in sc.moves:
        gap = sc.nodes[mv.mn].parameters.l2_handover
        current = cell.get(mv.mn)
        initial = mv.mn not in cell
        if current is not None:
            ops.append((mv.at, mv.mn, current, False))
        cell[mv.mn] = mv.attach
        if mv.attach is not None:
            ops.append((mv.at if initial else mv.at + gap, mv.mn, mv.attach, True))
    return sorted(ops, key=lambda o: o[0])


def _anticipations(sc: Scenario, protocol: str) -> list[tuple[float, str, str]]:
    """``(at, mn, new_ar)``: the L2 trigger of fast handovers, ``fh_anticipation`` before every
    move but a mobile node's first (and never before its previous move), as the simulator
    gives it (:meth:`hmipv6.sim.network.Network._schedule_anticipations`)."""
    if protocol != "fhmipv6":
        return []
    out: list[tuple[float, str, str]] = []
    last: dict[str, float] = {}
    for mv in sorted(sc.moves, key=lambda m: m.at):
        prev = last.get(mv.mn)
        last[mv.mn] = mv.at
        lead = sc.nodes[mv.mn].parameters.fh_anticipation
        if prev is None or mv.attach is None or lead <= 0:
            continue
        out.append((max(mv.at - lead, prev), mv.mn, mv.attach))
    return out


def _fault(sc: Scenario, topo: Topology, tell: Any, f: Fault) -> None:
    """Apply one fault (module docstring); ``tell(node, line)`` sends a daemon a control
    line."""
    if f.kind in ("crash", "restart"):
        tell(f.node, f.kind)
    elif f.kind == "preference":
        tell(f.node, f"preference {f.value}")
        spec = sc.nodes[f.node]
        assert isinstance(spec, MapSpec)
        for name, other in sc.nodes.items():
            if isinstance(other, AccessRouterSpec) and f.node in other.advertise_maps:
                tell(name, f"map-preference {spec.address} {f.value}")
    else:
        up = f.kind == "link-up"
        state = "up" if up else "down"
        for iface in sc.interfaces.get(f.node, ()):
            if f.peer is not None and iface.peer != f.peer:
                continue
            if iface.peer is not None and iface.peer_ifname is not None:
                topo.set_link(f.node, iface.name, up)
                topo.set_link(iface.peer, iface.peer_ifname, up)
                tell(iface.peer, f"iface {iface.peer_ifname} {state}")
            elif isinstance(sc.nodes[f.node], AccessRouterSpec):
                topo.set_link(f.node, iface.name, up)  # the cell's bridge
            tell(f.node, f"iface {iface.name} {state}")


def _write_node_config(sc: Scenario, topo: Topology, out: Path, name: str,
                       scenario: str | Path, overrides: tuple[str, ...],
                       duration: float | None, protocol: str, shaping: bool, tun: bool) -> Path:
    """The daemon's ``hmipv6-node/1`` file (:mod:`hmipv6.net.node_config`), as a deployed
    node would have it, with the testbed's interface names and launcher control."""
    from hmipv6.net.node_config import NodeConfig, write_config
    from hmipv6.sim.scenario import builtin_path

    path = Path(scenario)
    source = builtin_path(str(scenario)) if not path.exists() else path.resolve()
    assert source is not None  # load() accepted it
    ports = [p for p in topo.plan.ports[name] if p.engine]
    cfg = NodeConfig(path=out / "config" / f"{name}.toml", scenario=source, node=name,
                     log=(out / "logs" / f"{name}.jsonl").resolve(), protocol=protocol,
                     overrides=overrides, duration=duration, shaping=shaping, tun=tun,
                     control="stdin",
                     set_mac=False, run=topo.plan.run,
                     interfaces={p.engine: p.kernel for p in ports if p.cell is None},
                     cells={p.cell: p.kernel for p in ports if p.cell is not None})
    cfg.path.parent.mkdir(parents=True, exist_ok=True)
    write_config(cfg.path, cfg)
    return cfg.path


def _start_relay(topo: Topology, out: Path, name: str, scenario: str | Path,
                 overrides: tuple[str, ...], duration: float | None,
                 shaping: bool) -> subprocess.Popen[str]:
    """Start kernel node ``name``'s link relay (:mod:`hmipv6.net.relay`) in its namespace."""
    cmd = [sys.executable, "-m", "hmipv6.net.relay", "--netns", topo.namespace(name),
           "--node", name, "--scenario", str(scenario)]
    for o in overrides:
        cmd += ["--set", o]
    if duration is not None:
        cmd += ["--duration", repr(duration)]
    if not shaping:
        cmd.append("--no-shaping")
    with (out / "logs" / f"{name}.err").open("w") as err:
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, text=True)


def _relay_final(p: subprocess.Popen[str]) -> dict[str, Any]:
    """The interface counters a stopped relay printed (``final {...}``), else nothing."""
    assert p.stdout is not None
    try:
        # Within 10 s (as the daemons' wait); the line comes before the relay exits.
        if select.select([p.stdout], [], [], 10)[0]:
            line = p.stdout.readline()
            if line.startswith("final "):
                counters: dict[str, Any] = json.loads(line[len("final "):])
                return counters
    except (OSError, ValueError):
        pass
    return {}


def run(scenario: str | Path, *, overrides: tuple[str, ...] = (), duration: float | None = None,
        out: str | Path = "hmipv6-testbed", protocol: str | None = None,
        seed: int | None = None,
        nodes: tuple[str, ...] | None = None, shaping: bool = True,
        export_sa: str | Path | None = None, tun: bool = False,
        apps: tuple[App, ...] = (), kernel_nodes: bool = True, hold: bool = False,
        on_start: Callable[[Topology, float], object] | None = None,
        on_started: Callable[[Topology], None] | None = None) -> TestbedResult:
    """Run ``scenario`` on network namespaces and report (module docstring). ``nodes``: run
    only these nodes' daemons (the others' namespaces and links exist, silent).
    ``seed`` (``--seed``): replaces ``scenario.seed`` before the overrides, as in
    ``hmipv6 simulate``; every daemon is configured with it too (its first override).
    ``shaping=False``: no link emulation (full-speed veths). ``export_sa``: write the SAs
    for Wireshark there (module docstring). ``tun``: every mobile node's home address on a
    TUN device in its namespace, for kernel applications (:mod:`hmipv6.net.tun`).
    ``apps``: real commands to run in the nodes' namespaces (:mod:`hmipv6.net.apps`).
    ``kernel_nodes`` (the default): routers and correspondents without route optimisation are
    plain Linux nodes, no daemon (:mod:`hmipv6.net.kernel_nodes`), their links emulated by
    relays (:mod:`hmipv6.net.relay`); ``False`` runs a daemon on every node. ``hold``: once the scenario's
    timeline is over, keep everything running until interrupted (``testbed up``).
    ``on_start(topology, t0)``: called once every daemon is ready, with the run's origin
    (``time.monotonic()`` of the scenario's 0 s), before the daemons start; it must return
    at once (start a thread for anything longer): the security tests bring an attacker's
    station onto a cell's bridge this way. ``on_started(topology)`` is called once the
    daemons have started.

    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it by the command line) during the
    run stops it there: the daemons stop, what they logged is reported (``testbed.
    interrupted``: seconds since the start) and the result returned as usual."""
    check_environment()
    if export_sa is not None and not Path(export_sa).resolve().parent.is_dir():
        # Found out now, not after the run.
        raise TestbedError(f"--export-sa {export_sa}: no such directory")
    # ``duration`` is applied by the loader after the overrides and the generators (later
    # moves and faults left out, flows cut at the end); every daemon loads it the same way.
    sc = load(scenario, overrides, seed=seed, duration=duration,
              protocols=(protocol,) if protocol else ())
    # The daemons load the scenario themselves: the seed goes first, as load() applies it.
    node_overrides = (*((f"scenario.seed={seed}",) if seed is not None else ()), *overrides)
    proto = protocol or sc.protocol
    kernel = kernel_node_names(sc) if kernel_nodes else frozenset()
    apps = (*apps, *(App(a.name, a.node, a.at, a.argv(sc, sys.executable)) for a in sc.apps))
    tun = tun or bool(apps)
    mobile = {m.name for m in sc.of_role(MobileNodeSpec)}
    for a in apps:
        if a.node not in kernel and a.node not in mobile:
            # A daemon's namespace has the kernel's IPv6 off: nothing there to run it on.
            key = next((s.key for s in sc.apps if s.name == a.name), f"app {a.name}")
            raise TestbedError(f"{key}.node: {a.node!r} runs a daemon, not a kernel: "
                               "applications run on mobile nodes (over the home address) "
                               "and on kernel nodes (not with --daemon-nodes)")
    out = Path(out)
    # A reused --out keeps nothing of an earlier run: its report, captures and logs go.
    for old in (out / "report.json", out / "apps.png"):
        old.unlink(missing_ok=True)
    for folder in (out / "pcap", out / "logs", out / "config", out / "apps"):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    logs = {n: out / "logs" / f"{n}.jsonl" for n in sc.nodes
            if (nodes is None or n in nodes) and n not in kernel}
    for n in logs:
        # A durable binding store holds engine times of its own run: never carry one over.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store_path(out / 'logs', n)}{suffix}").unlink(missing_ok=True)
    procs: dict[str, subprocess.Popen[str]] = {}
    capture: _Capture | None = None
    runner: AppRunner | None = None
    interrupted: float | None = None
    topo = Topology(sc, kernel=kernel, relayed=kernel)
    relays: dict[str, subprocess.Popen[str]] = {}
    relay_counters: dict[str, Any] = {}
    try:
        topo.create()
    except OSError as e:
        raise TestbedError(f"cannot build the topology: {e}") from e
    origin = [time.monotonic()]  # the run's 0 s, once known (for the time of a late stop)
    shield = ExitStack()
    late: list[float] = []
    try:  # from the first stop on, until the result is returned: under the shield
        with topo:
            try:
                capture = _Capture(topo, out / "pcap")
                for name in logs:
                    cfg_path = _write_node_config(sc, topo, out, name, scenario, node_overrides,
                                                  duration, proto, shaping, tun and name in mobile)
                    cmd = [sys.executable, "-m", "hmipv6.cli", "node", "--config", str(cfg_path),
                           "--netns", topo.namespace(name)]
                    err = (out / "logs" / f"{name}.err").open("w")
                    procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                   stderr=err, text=True)
                    err.close()
                for name in sorted(kernel):
                    relays[name] = _start_relay(topo, out, name, scenario, overrides, duration,
                                                shaping)
                for name, p in {**procs, **relays}.items():
                    assert p.stdout is not None
                    line = p.stdout.readline()  # blocks until ready (or the daemon died)
                    if line.strip() != "ready":
                        what = "relay" if name in relays else "daemon"
                        raise TestbedError(f"{what} {name} failed to start (see "
                                           f"{out / 'logs' / (name + '.err')})")
                t0 = time.monotonic() + START_MARGIN
                origin[0] = t0
                capture.t0 = t0
                if on_start is not None:
                    on_start(topo, t0)
                for p in (*procs.values(), *relays.values()):
                    assert p.stdin is not None
                    p.stdin.write(f"start {t0!r}\n")
                    p.stdin.flush()
                def tell(node: str, line: str) -> None:
                    p = procs.get(node) or relays.get(node)
                    if p is not None and p.stdin is not None:
                        p.stdin.write(line + "\n")
                        p.stdin.flush()

                ops: list[tuple[float, int, Any]] = [
                    (at, 0, partial(topo.set_attached, mn, ar, up))
                    for at, mn, ar, up in _link_ops(sc)]
                ops += [(f.at, 1, partial(_fault, sc, topo, tell, f)) for f in sc.faults]
                ops += [(at, 0, partial(tell, mn, f"anticipate {ar}"))
                        for at, mn, ar in _anticipations(sc, proto)]
                runner = AppRunner(out, topo.plan.namespaces)
                ops += [(a.at, 2, partial(runner.start, a)) for a in apps]
                if on_started is not None:
                    on_started(topo)
                try:
                    for at, _, op in sorted(ops, key=lambda o: (o[0], o[1])):
                        if at >= sc.duration:
                            break
                        time.sleep(max(t0 + at - time.monotonic(), 0.0))
                        op()
                        _check_interrupt()
                    time.sleep(max(t0 + sc.duration - time.monotonic(), 0.0))
                    _check_interrupt()
                    while hold:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    _INTERRUPT.clear()
                    interrupted = round(time.monotonic() - t0, 3)
            finally:
                late = shield.enter_context(_finishing(origin))
                if runner is not None:
                    runner.finish()
                for p in (*procs.values(), *relays.values()):
                    try:
                        assert p.stdin is not None
                        p.stdin.write("stop\n")
                        p.stdin.close()
                    except (OSError, ValueError):
                        pass
                for name, p in relays.items():
                    relay_counters[name] = _relay_final(p)
                for p in (*procs.values(), *relays.values()):
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                if capture is not None:
                    capture.close()
        if late and interrupted is None:
            # Stopped while finishing a complete run: the report is whole, but the caller is
            # told (a comparison starts no further run).
            interrupted = late[0]
        failed = [n for n, p in procs.items() if p.returncode != 0]
        failed += [f"{n} (relay)" for n, p in relays.items() if p.returncode != 0]
        if failed:
            raise TestbedError(f"daemons failed: {', '.join(failed)} (see {out / 'logs'})")
        lines = read_logs(logs.values())
        report = report_from_logs(sc, proto, lines)
        report["testbed"] = {"kernel": os.uname().release, "daemons": sorted(procs),
                             "clock": "wall-clock seconds since the run's start (monotonic)",
                             "shaping": shaping, "kernel_nodes": sorted(kernel),
                             "interrupted": interrupted,
                             "egress": {**{d["node"]: d.get("egress", {}) for d in lines
                                           if d["kind"] == "final"}, **relay_counters}}
        if runner is not None and runner.results:
            report["apps"] = summarise(runner.results)
            plot_apps(report, out / "apps.png")
        (out / "report.json").write_text(dumps(report), encoding="utf-8")
        sa_files: dict[str, Path] = {}
        if export_sa is not None:
            table, ike = export_sa_tables(provisioned_sa_table(sc, proto), [
                (d["sa_export"]["esp"], d["sa_export"]["ikev2"]) for d in lines
                if d["kind"] == "final" and "sa_export" in d])
            try:
                sa_files["esp_sa"] = Path(export_sa)
                sa_files["esp_sa"].write_text(table, encoding="utf-8")
                if ike:
                    sa_files["ikev2"] = Path(f"{export_sa}.ikev2")
                    sa_files["ikev2"].write_text(ike, encoding="utf-8")
            except OSError as e:
                raise TestbedError(f"--export-sa {e.filename or export_sa}: {e.strerror or e}"
                                   ) from None
        return TestbedResult(report=report, out=out,
                             pcap_files=capture.files if capture is not None else {}, logs=logs,
                             sa_files=sa_files, apps=runner.results if runner is not None else {})
    finally:
        shield.close()
