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
    r.set_defaults(handler=_run)

    n = sub.add_parser("node", help="run one node's daemon (the testbed launches these)",
                       description="Run one node of a scenario on this host's interfaces.")
    n.add_argument("--scenario", required=True)
    n.add_argument("--name", required=True)
    n.add_argument("--log", type=Path, required=True)
    n.add_argument("--netns", help="enter this network namespace first")
    n.add_argument("--run", default=None, help="the testbed run id (interface naming)")
    n.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    n.add_argument("--protocol", choices=PROTOCOLS)
    n.add_argument("--duration", type=duration_arg, metavar="D",
                   help="the run's --duration (the scenario as the launcher loaded it)")
    n.add_argument("--no-shaping", dest="shaping", action="store_false",
                   help="send frames at once (no link emulation)")
    n.set_defaults(handler=_node)


def _run(args: argparse.Namespace) -> int:
    from hmipv6.net.testbed import run

    # SIGTERM unwinds like Ctrl-C, so the daemons are stopped and the namespaces deleted.
    # (Only in this process: pyroute2's forked helpers are ended with SIGTERM and must just go.)
    pid = os.getpid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143) if os.getpid() == pid else os._exit(0))
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
                     export_sa=args.export_sa)
    except HMIPv6Error as e:
        print(f"hmipv6 testbed: {e}", file=sys.stderr)
        return 2
    for line in summary_lines(result.report):
        print(line)
    print(f"written: {result.out / 'report.json'}, {len(result.pcap_files)} pcaps, logs")
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


def _node(args: argparse.Namespace) -> int:
    from hmipv6.net.daemon import main
    from hmipv6.sim.scenario import load

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
                shaping=args.shaping)
