"""``hmipv6 testbed run`` and ``hmipv6 node``: a scenario on real kernels (``hmipv6.net``).

``testbed run [SCENARIO|NAME] [--duration D] [--out DIR] [--set K=V] [--seed N]
[--protocol P | --compare P1,P2] [--no-shaping] [--export-sa FILE]`` builds the scenario
from network namespaces and one daemon per node (:func:`hmipv6.net.testbed.run`), writes
``report.json`` (``"world": "testbed"``), ``pcap/<link>.pcap`` and ``logs/`` under ``--out``,
plots the report as ``simulate`` does (``timeline.png``, ``handovers.png``,
``signalling.png``: :func:`hmipv6.sim.plots.write_plots`) and prints each handover in one
line. ``--seed`` replaces ``scenario.seed`` before ``--set``, as for ``simulate`` (and in
every daemon). ``--compare P1,P2`` runs the scenario once per protocol, one after the other,
each a whole run into ``DIR/<protocol>/``, then prints ``simulate``'s table of the reports
(:func:`hmipv6.cli_simulate.print_comparison`: handovers paired by the move,
:mod:`hmipv6.sim.compare`) and plots them together in ``DIR``. What an earlier run left in
``DIR`` that a run writes (:data:`OWNED`, there and in ``DIR/<protocol>/``) is removed
first. Not root, no namespaces, a bad scenario: one line on stderr, exit status 2. Ctrl-C or
SIGTERM: the partial results are written (the runs of a comparison done so far too), no
traceback, exit status 130.

Each daemon emulates its links at the sender (the scenario's delay, bandwidth, queue and loss;
no netem needed); ``--no-shaping`` runs the veths at full speed. Faults (crash, restart,
link-down/up, preference) are applied at their wall-clock times.

``node --scenario S --name N --log FILE [--netns NS] [--no-shaping]`` runs one node's daemon
(:mod:`hmipv6.net.daemon`); the testbed launches these, one per node.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from hmipv6.cli_simulate import duration_arg
from hmipv6.errors import HMIPv6Error
from hmipv6.sim.scenario import PROTOCOLS

__all__ = ["register", "summary_lines"]


def register(sub: Any) -> None:
    t = sub.add_parser("testbed", help="run a scenario on network namespaces and real daemons",
                       description="Build a scenario from Linux network namespaces, veth pairs "
                                   "and bridges, with one hmipv6 daemon per node (needs root).")
    tsub = t.add_subparsers(dest="testbed_command", metavar="COMMAND", required=True)
    r = tsub.add_parser("run", help="run a scenario and report",
                        description="Run a scenario (file or built-in name; default figure1) on "
                                    "real kernels and write report.json, pcaps and daemon logs.")
    r.add_argument("scenario", nargs="?", default="figure1", metavar="SCENARIO|NAME")
    r.add_argument("--duration", type=duration_arg, metavar="D",
                   help="run for D (e.g. 12s) instead of the scenario's duration: later "
                        "moves and faults are left out, flows stop at D (applied after "
                        "--set and after generators)")
    r.add_argument("--out", type=Path, default=Path("hmipv6-testbed"), metavar="DIR")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (repeatable), as for simulate")
    _add_protocol_options(r)
    r.add_argument("--no-shaping", dest="shaping", action="store_false",
                   help="do not emulate the links' delay, bandwidth, queue and loss in the "
                        "daemons (full-speed veths)")
    r.add_argument("--export-sa", type=Path, metavar="FILE",
                   help="write the IPsec SAs as a Wireshark esp_sa file (copy to "
                        "~/.config/wireshark/esp_sa) so the captures' BUs and BAs show "
                        "decrypted; under profile rfc5380 the IKE-negotiated Child SAs are "
                        "included and the IKE SAs' keys go to FILE.ikev2")
    _add_real_network_options(r)
    r.set_defaults(handler=_run, compare_part=False)
    from hmipv6.cli_testbed_up import register_up

    register_up(tsub, r)

    n = sub.add_parser("node", help="run one node's daemon (the testbed launches these)",
                       description="Run one node of a scenario on this host's interfaces.")
    n.add_argument("--config", type=Path, metavar="FILE",
                   help="a node configuration file (format hmipv6-node/1; see "
                        "hmipv6.net.node_config): run that node on this host's interfaces; "
                        "replaces --scenario, --name and --log")
    n.add_argument("--scenario")
    n.add_argument("--name")
    n.add_argument("--log", type=Path)
    n.add_argument("--netns", help="enter this network namespace first")
    n.add_argument("--run", default=None, help="the testbed run id (interface naming)")
    n.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    n.add_argument("--protocol", choices=PROTOCOLS)
    n.add_argument("--duration", type=duration_arg, metavar="D",
                   help="the run's --duration (the scenario as the launcher loaded it)")
    n.add_argument("--no-shaping", dest="shaping", action="store_false",
                   help="send frames at once (no link emulation)")
    n.add_argument("--tun", action="store_true",
                   help="a mobile node: put the home address on a TUN device (hmip0) with a "
                        "default route, for the kernel's applications")
    n.set_defaults(handler=_node)


def _interrupt_on_sigterm() -> None:
    """SIGTERM stops a run as Ctrl-C does (partial results kept, namespaces deleted). Only
    in this process: pyroute2's forked helpers are ended with SIGTERM and must just go. Both
    note the interrupt first (``net.testbed.note_interrupt``), so that one Python drops
    (raised inside an at-fork hook) still stops the run, and such a dropped interrupt is not
    reported as an unraisable exception (a traceback on the terminal)."""
    from hmipv6.net.testbed import interrupted, note_interrupt

    pid = os.getpid()

    def handler(*_: object) -> None:
        if os.getpid() != pid:
            os._exit(0)
        note_interrupt()
        raise KeyboardInterrupt

    def ctrl_c(signum: int, frame: Any) -> None:
        if os.getpid() == pid:
            note_interrupt()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, ctrl_c)
    previous = sys.unraisablehook

    def unraisable(u: Any) -> None:
        # The KeyboardInterrupt CPython drops there is reported through this hook ("Exception
        # ignored in ..." and a traceback on the terminal). Both handlers noted it, and the
        # run loop raises it again: nothing to report. Once the run is stopping, what the
        # interrupt cut short may fail the same way when it is collected (a pyroute2
        # coroutine finding its event loop closed): one line, not a traceback. Anything
        # else is reported as before.
        if os.getpid() == pid and isinstance(u.exc_value, KeyboardInterrupt):
            return
        if os.getpid() == pid and interrupted():
            print(f"(ignored while stopping: {type(u.exc_value).__name__}: {u.exc_value})",
                  file=sys.stderr)
            return
        previous(u)

    sys.unraisablehook = unraisable


def _add_protocol_options(r: Any) -> None:
    """``testbed run``'s ``--protocol`` / ``--compare`` and ``--seed``, as ``simulate``'s."""
    from hmipv6.cli_simulate import protocol_list

    which = r.add_mutually_exclusive_group()
    which.add_argument("--protocol", choices=PROTOCOLS,
                       help="run this protocol (default: the scenario's)")
    which.add_argument("--compare", type=protocol_list, default=None, metavar="P1,P2",
                       help="run each of these protocols, one after the other, each into "
                            "DIR/<protocol>/, then print their handovers side by side and plot "
                            "them in DIR")
    r.add_argument("--seed", type=int, help="random seed (overrides [scenario] seed)")


def _add_real_network_options(r: Any) -> None:
    """``testbed run``'s options for kernel traffic (hmipv6.net.tun, hmipv6.net.kernel_nodes)."""
    r.add_argument("--tun", action="store_true",
                   help="put each mobile node's home address on a TUN device (hmip0) in its "
                        "namespace, with a default route: kernel applications (ping, TCP, "
                        "iperf3) use the home address")
    add_node_kind_options(r)


def add_node_kind_options(p: Any) -> None:
    """``--daemon-nodes`` (and the former ``--kernel-nodes``, now the default) for ``testbed
    run`` and ``testbed up``."""
    p.add_argument("--daemon-nodes", dest="kernel_nodes", action="store_false",
                   help="run a daemon on every node; by default routers and correspondents "
                        "without route optimisation are plain Linux nodes (kernel "
                        "forwarding, static routes, their links emulated by a relay), and "
                        "nodes a scenario flow starts or ends at keep their daemon")
    p.add_argument("--kernel-nodes", dest="kernel_nodes", action="store_true",
                   help="the default (kept for compatibility)")
    p.set_defaults(kernel_nodes=True)


def _run(args: argparse.Namespace) -> int:
    if args.compare is not None:
        return _run_compare(args)
    from hmipv6.cli_testbed_up import started_hook
    from hmipv6.net.testbed import run

    # SIGTERM unwinds like Ctrl-C, so the daemons are stopped and the namespaces deleted.
    # (Only in this process: pyroute2's forked helpers are ended with SIGTERM and must just go.)
    _interrupt_on_sigterm()
    from hmipv6.cli_simulate import UNPROTECTED_WARNING
    from hmipv6.sim.scenario import ScenarioError, load

    try:
        # The same validation as simulate's, before anything is built or written.
        sc = load(args.scenario, tuple(args.overrides), seed=args.seed, duration=args.duration,
                  protocols=(args.protocol,) if args.protocol else ())
    except ScenarioError as e:
        print(f"hmipv6 testbed: error: {e}", file=sys.stderr)
        return 2
    if sc.defaults.security == "none" and not args.compare_part:
        print(UNPROTECTED_WARNING.format(cmd="hmipv6 testbed"), file=sys.stderr)
    if not args.compare_part:
        try:
            _clear_earlier(args.out)
        except OSError as e:
            print(f"hmipv6 testbed: error: {args.out}: {e.strerror or e}", file=sys.stderr)
            return 2
    try:
        result = run(args.scenario, seed=args.seed,
                     overrides=tuple(args.overrides), duration=args.duration,
                     out=args.out, protocol=args.protocol, shaping=args.shaping,
                     export_sa=args.export_sa, tun=args.tun, kernel_nodes=args.kernel_nodes,
                     hold=args.hold,
                     on_started=started_hook(args.out, args.scenario) if args.hold else None)
    except HMIPv6Error as e:
        print(f"hmipv6 testbed: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hmipv6 testbed: interrupted before the run started (nothing written)",
              file=sys.stderr)
        return 130
    rep = result.report
    for line in summary_lines(rep):
        print(line)
    _print_apps(rep)
    print(f"written: {result.out / 'report.json'}, {len(result.pcap_files)} pcaps, logs")
    if not args.compare_part:  # a comparison plots its runs together (_run_compare)
        pngs = _plots({rep["protocol"]: rep}, result.out)
        if pngs is None:
            return 130
        print(f"plotted: {', '.join(str(p) for p in pngs)}")
    if rep["testbed"].get("interrupted") is not None:
        print(f"interrupted at {rep['testbed']['interrupted']:.1f} s: partial results",
              file=sys.stderr)
        return 130
    for kind, path in result.sa_files.items():
        print(f"written: {path} (Wireshark {'esp_sa' if kind == 'esp_sa' else 'ikev2_decryption_table'})")
    return 0


OWNED = ("report.json", "apps.png", "pcap", "logs", "config", "apps", "timeline.png",
         "handovers.png", "signalling.png")
"""What ``testbed run`` writes in ``--out`` (and a comparison in each ``--out/<protocol>/``):
removed before a run, so a reused directory never mixes runs (a comparison's folders after a
single run, a protocol not compared this time)."""


def _clear_earlier(out: Path) -> None:
    """Remove what an earlier ``testbed run`` or ``testbed run --compare`` left in ``out``
    (:data:`OWNED`, there and in each ``<protocol>/`` folder, which goes once empty);
    nothing else is touched."""
    from hmipv6.cli_simulate import clear_outputs

    if not out.is_dir():
        return
    clear_outputs(out, OWNED)
    for proto in PROTOCOLS:
        folder = out / proto
        if folder.is_dir() and not folder.is_symlink():
            clear_outputs(folder, OWNED)
            if not any(folder.iterdir()):
                folder.rmdir()


def _plots(reports: dict[str, dict[str, Any]], out: Path) -> list[Path] | None:
    """``simulate``'s plots of ``reports`` in ``out`` (:func:`hmipv6.sim.plots.write_plots`);
    ``None`` when interrupted (the reports are written by then)."""
    try:
        from hmipv6.sim.plots import write_plots  # matplotlib is slow to import

        return write_plots(reports, out)
    except KeyboardInterrupt:
        print("hmipv6 testbed: interrupted while plotting (the reports are written)",
              file=sys.stderr)
        return None


def _run_compare(args: argparse.Namespace) -> int:
    """``testbed run --compare P1,P2``: the scenario once per protocol, one after the other,
    each a whole ``testbed run --protocol P --out DIR/P`` (report, pcaps, logs); then the
    table ``simulate`` prints (:func:`hmipv6.cli_simulate.print_comparison`, handovers paired
    by the move, :mod:`hmipv6.sim.compare`) and its plots in DIR, from the reports written.
    Ctrl-C (or SIGTERM) stops there: the runs done, the interrupted run's partial report and
    their table are kept, exit status 130."""
    import json

    from hmipv6.cli_simulate import (
        FILES_HELP,
        UNPROTECTED_WARNING,
        print_comparison,
        table_console,
    )
    from hmipv6.sim.scenario import ScenarioError, load

    _interrupt_on_sigterm()
    protocols: list[str] = args.compare
    out: Path = args.out
    try:
        # Every protocol is checked before the first run starts, as simulate does.
        sc = load(args.scenario, tuple(args.overrides), seed=args.seed, duration=args.duration,
                  protocols=protocols, protocols_from="--compare")
    except ScenarioError as e:
        print(f"hmipv6 testbed: error: {e}", file=sys.stderr)
        return 2
    if args.hold:
        print("hmipv6 testbed: error: --hold keeps one protocol's run up, not a comparison",
              file=sys.stderr)
        return 2
    if args.export_sa is not None and not args.export_sa.resolve().parent.is_dir():
        print(f"hmipv6 testbed: error: --export-sa {args.export_sa}: no such directory",
              file=sys.stderr)
        return 2
    if sc.defaults.security == "none":
        print(UNPROTECTED_WARNING.format(cmd="hmipv6 testbed"), file=sys.stderr)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _clear_earlier(out)
    except OSError as e:
        print(f"hmipv6 testbed: error: {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    reports: dict[str, dict[str, Any]] = {}
    status = 0
    try:
        for i, proto in enumerate(protocols, 1):
            print(f"[{i}/{len(protocols)}] {proto}: {out / proto}", flush=True)
            part = argparse.Namespace(**vars(args))
            part.compare, part.protocol, part.out, part.compare_part = None, proto, out / proto, True
            if args.export_sa is not None:  # FILE-<protocol>, as simulate names them
                part.export_sa = args.export_sa.with_name(
                    f"{args.export_sa.stem}-{proto}{args.export_sa.suffix}")
            status = _run(part)
            written = out / proto / "report.json"
            if written.is_file():
                reports[proto] = json.loads(written.read_text(encoding="utf-8"))
            if status != 0:
                break  # interrupted (130) or failed (2): no further run
    except KeyboardInterrupt:  # between two runs
        print("hmipv6 testbed: interrupted", file=sys.stderr)
        status = 130
    if not reports:
        return status
    pngs = _plots(reports, out)
    if pngs is None:
        return 130
    files: list[tuple[Path, str]] = []
    for proto in reports:
        files += [(out / proto / "report.json", f"{FILES_HELP['report']} ({proto})"),
                  (out / proto / "pcap", "one pcap per link and cell (Ethernet; Wireshark or "
                                         "`hmipv6 decode`)"),
                  (out / proto / "logs", "each daemon's event log (the report is rebuilt "
                                         "from them)")]
    files += [(png, FILES_HELP[png.name]) for png in pngs]
    try:
        print_comparison(reports, files, console=table_console())
    except KeyboardInterrupt:
        return 130
    return status


def _shown(value: object) -> str:
    """A report value as the summary prints it: ``-`` for a missing one (never ``None``)."""
    return "-" if value is None else str(value)


def _ms(value: object) -> str:
    return f"{value * 1000:.1f} ms" if isinstance(value, int | float) else "-"


def summary_lines(rep: dict[str, Any]) -> list[str]:
    """One line per handover and per flow of a testbed report (no Python ``None``: a first
    attachment is ``-> ar1``, a missing value ``-``)."""
    from hmipv6.sim.compare import is_map_change

    lines = []
    for h in rep["handovers"]:
        if is_map_change(h):
            move = f"MAP change at {h['to']}"
        elif h.get("from") is None:
            move = f"-> {_shown(h.get('to'))}"
        else:
            move = f"{h['from']} -> {_shown(h.get('to'))}"
        lines.append(f"{h['mn']}: {move} {_shown(h.get('kind'))}: "
                     f"registration {_ms(h.get('registration'))}, "
                     f"latency {_ms(h.get('latency'))}, lost {_shown(h.get('lost'))}")
    for f in rep["flows"]:
        flight = f", in flight {f['in_flight']}" if f.get("in_flight") else ""
        lines.append(f"flow {f['from']} -> {f['to']} {f['kind']}: sent {_shown(f.get('sent'))}, "
                     f"received {_shown(f.get('received'))}, lost {_shown(f.get('lost'))}"
                     f"{flight}")
    return lines


def _node_config(args: argparse.Namespace) -> int:
    """``hmipv6 node --config FILE`` (hmipv6.net.node_config)."""
    from hmipv6.net.daemon import run_config
    from hmipv6.net.node_config import load_config

    try:
        return run_config(load_config(args.config), netns=args.netns)
    except HMIPv6Error as e:
        print(f"hmipv6 node: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an interface, /dev/net/tun or the log the host refuses
        print(f"hmipv6 node: {e}", file=sys.stderr)
        return 2


def _print_apps(rep: dict[str, Any]) -> None:
    """One line per real application of the run (hmipv6.net.app_summary)."""
    for a in rep.get("apps", []):
        tool = a.get("tool")
        head = f"app {a['name']} ({a['node']}, {tool}): "
        if tool == "ping":
            print(f"{head}sent {a['sent']}, received {a['received']}, lost {a['lost']}, "
                  f"longest gap {a['max_gap'] * 1000:.0f} ms")
        elif tool == "iperf3":
            more = (f", {a['retransmits']} retransmissions" if a.get("retransmits") is not None
                    else f", {a.get('lost_packets')} lost" if a.get("lost_packets") is not None
                    else "")
            print(f"{head}{a['role']} {a['protocol']} {a.get('mbps')} Mbit/s{more}, longest "
                  f"stall {a['longest_stall'] * 1000:.0f} ms"
                  + (f", error: {a['error']}" if a.get("error") else ""))
        elif tool == "echo" and a.get("role") != "server":
            print(f"{head}{a.get('echoed')} of {a.get('sent')} lines echoed, longest wait "
                  f"{(a.get('max_wait') or 0) * 1000:.0f} ms"
                  + (f", error: {a['error']}" if a.get("error") else ""))
        else:
            print(f"{head}exit status {a['exit']}")


def _node(args: argparse.Namespace) -> int:
    from hmipv6.net.daemon import main
    from hmipv6.sim.scenario import load

    if args.config is not None:
        return _node_config(args)
    if args.scenario is None or args.name is None or args.log is None:
        print("hmipv6 node: give --config FILE, or --scenario, --name and --log",
              file=sys.stderr)
        return 2

    try:
        sc = load(args.scenario, tuple(args.overrides), duration=args.duration,
                  protocols=(args.protocol,) if args.protocol else ())
    except HMIPv6Error as e:
        print(f"hmipv6 node: {e}", file=sys.stderr)
        return 2
    if args.name not in sc.nodes:
        print(f"hmipv6 node: no node {args.name!r} in {sc.source}", file=sys.stderr)
        return 2
    return main(sc, args.name, args.log, netns=args.netns,
                run=args.run if args.run is not None else "0", protocol=args.protocol,
                shaping=args.shaping, tun=args.tun)
