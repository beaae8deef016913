"""``hmipv6 testbed up`` / ``down`` / ``clean``: a topology kept running for real tools, and
the leftovers of killed runs.

``testbed up [SCENARIO|NAME] [--out DIR] [--daemon-nodes] [--set K=V] ...`` starts ``testbed
run SCENARIO --hold`` in the background (its own session, output in ``DIR/testbed.log``):
the scenario's timeline runs as usual, then everything stays up, the mobile nodes' home
addresses on their TUN devices, until ``testbed down``. Once the daemons run, ``up`` prints
the namespaces (``ip netns exec hm-<pid>-cn ping -6 2001:db8:f::100``) and the state file
``DIR/testbed.json`` (``{"pid", "namespaces", "scenario"}``) and exits 0.

``testbed down [--out DIR]`` sends that process SIGTERM: it stops the daemons, writes the
report, pcaps and logs of the whole session into DIR and deletes every namespace.

``testbed clean`` removes the ``hm-<pid>-*`` namespaces of runs whose process is gone and in
which no process runs any more (a killed ``testbed run``), and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register_up", "started_hook"]

STATE = "testbed.json"
UP_TIMEOUT = 120.0


def register_up(tsub: Any, run_parser: Any) -> None:
    from hmipv6.cli_testbed import add_node_kind_options

    run_parser.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    u = tsub.add_parser("up", help="start a scenario and keep it running (until down)",
                        description="Start a scenario on network namespaces in the background "
                                    "and keep the topology running after its timeline, for "
                                    "poking with real tools; stop it with 'testbed down'.")
    u.add_argument("scenario", nargs="?", default="figure1", metavar="SCENARIO|NAME")
    u.add_argument("--out", type=Path, default=Path("hmipv6-testbed"), metavar="DIR")
    u.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    u.add_argument("--protocol")
    add_node_kind_options(u)
    u.add_argument("--no-shaping", dest="shaping", action="store_false")
    u.set_defaults(handler=_up)
    d = tsub.add_parser("down", help="stop what 'testbed up' started and write its results",
                        description="Stop the run 'testbed up' started with this --out "
                                    "(report, pcaps and logs are written there).")
    d.add_argument("--out", type=Path, default=Path("hmipv6-testbed"), metavar="DIR")
    d.set_defaults(handler=_down)
    c = tsub.add_parser("clean", help="remove namespaces left by killed runs",
                        description="Remove the hm-<pid>-* network namespaces whose run "
                                    "process is gone and in which nothing runs.")
    c.set_defaults(handler=_clean)


def started_hook(out: Path, scenario: str) -> Any:
    """``on_started`` for ``run --hold``: write the state file and say so on stdout."""
    def started(topo: Any) -> None:
        state = {"pid": os.getpid(), "scenario": scenario,
                 "namespaces": dict(topo.plan.namespaces)}
        tmp = out / f"{STATE}.tmp"
        tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        tmp.replace(out / STATE)
        print("running", flush=True)
    return started


def _up(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / STATE).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "hmipv6.cli", "testbed", "run", args.scenario, "--hold",
           "--tun", "--out", str(out)]
    for o in args.overrides:
        cmd += ["--set", o]
    if args.protocol:
        cmd += ["--protocol", args.protocol]
    if not args.kernel_nodes:
        cmd.append("--daemon-nodes")
    if not args.shaping:
        cmd.append("--no-shaping")
    with (out / "testbed.log").open("w") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    deadline = time.monotonic() + UP_TIMEOUT
    while not (out / STATE).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.terminate()
            print(f"hmipv6 testbed up: the run did not start (see {out / 'testbed.log'})",
                  file=sys.stderr)
            return 2
        time.sleep(0.1)
    state = json.loads((out / STATE).read_text())
    print(f"up: {args.scenario}, process {state['pid']}; namespaces:")
    for node, ns in state["namespaces"].items():
        print(f"  {node:10s} ip netns exec {ns} ...")
    print(f"stop with: hmipv6 testbed down --out {out}")
    return 0


def _down(args: argparse.Namespace) -> int:
    path = args.out / STATE
    try:
        state = json.loads(path.read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        print(f"hmipv6 testbed down: nothing is up with --out {args.out} (no {path})",
              file=sys.stderr)
        return 2
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"hmipv6 testbed down: process {pid} is gone (see hmipv6 testbed clean)",
              file=sys.stderr)
        path.unlink(missing_ok=True)
        return 1
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:  # our child's zombie would stay in /proc until reaped; it is not our child
            status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if status == "Z":
            break
        time.sleep(0.1)
    path.unlink(missing_ok=True)
    report = args.out / "report.json"
    print(f"down: process {pid} stopped; results in {args.out}"
          + ("" if report.exists() else " (no report written: see testbed.log)"))
    return 0


def _clean(args: argparse.Namespace) -> int:
    from hmipv6.net.topology import remove_stale

    removed = remove_stale()
    for ns in removed:
        print(f"removed {ns}")
    if not removed:
        print("nothing to remove")
    return 0
