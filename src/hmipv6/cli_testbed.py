"""``hmipv6 testbed run`` and ``hmipv6 node``: a scenario on real kernels (``hmipv6.net``).

``testbed run [SCENARIO|NAME] [--duration D] [--out DIR] [--set K=V] [--no-shaping]
[--export-sa FILE]`` builds the scenario
from network namespaces and one daemon per node (:func:`hmipv6.net.testbed.run`), writes
``report.json`` (``"world": "testbed"``), ``pcap/<link>.pcap`` and ``logs/`` under ``--out``
and prints each handover in one line. Not root, no namespaces, a bad scenario: one line on
stderr, exit status 2.

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
    r.add_argument("--protocol", choices=PROTOCOLS)
    r.add_argument("--no-shaping", dest="shaping", action="store_false",
                   help="do not emulate the links' delay, bandwidth, queue and loss in the "
                        "daemons (full-speed veths)")
    r.add_argument("--export-sa", type=Path, metavar="FILE",
                   help="write the IPsec SAs as a Wireshark esp_sa file (copy to "
                        "~/.config/wireshark/esp_sa) so the captures' BUs and BAs show "
                        "decrypted; under profile rfc5380 the IKE-negotiated Child SAs are "
                        "included and the IKE SAs' keys go to FILE.ikev2")
    _add_real_network_options(r)
    r.set_defaults(handler=_run)
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
    in this process: pyroute2's forked helpers are ended with SIGTERM and must just go."""
    pid = os.getpid()

    def handler(*_: object) -> None:
        if os.getpid() != pid:
            os._exit(0)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


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
    from hmipv6.cli_testbed_up import started_hook
    from hmipv6.net.testbed import run

    # SIGTERM unwinds like Ctrl-C, so the daemons are stopped and the namespaces deleted.
    # (Only in this process: pyroute2's forked helpers are ended with SIGTERM and must just go.)
    _interrupt_on_sigterm()
    from hmipv6.cli_simulate import UNPROTECTED_WARNING
    from hmipv6.sim.scenario import ScenarioError, load

    try:
        # The same validation as simulate's, before anything is built or written.
        sc = load(args.scenario, tuple(args.overrides), duration=args.duration,
                  protocols=(args.protocol,) if args.protocol else ())
    except ScenarioError as e:
        print(f"hmipv6 testbed: error: {e}", file=sys.stderr)
        return 2
    if sc.defaults.security == "none":
        print(UNPROTECTED_WARNING.format(cmd="hmipv6 testbed"), file=sys.stderr)
    try:
        result = run(args.scenario, overrides=tuple(args.overrides), duration=args.duration,
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
    if rep["testbed"].get("interrupted") is not None:
        print(f"interrupted at {rep['testbed']['interrupted']:.1f} s: partial results",
              file=sys.stderr)
        return 130
    for kind, path in result.sa_files.items():
        print(f"written: {path} (Wireshark {'esp_sa' if kind == 'esp_sa' else 'ikev2_decryption_table'})")
    return 0


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
