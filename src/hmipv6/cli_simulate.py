"""``hmipv6 simulate`` and ``hmipv6 scenarios``: run a scenario in the simulator, compare protocols.

Theory of operation
-------------------
``simulate`` loads one scenario (a TOML path or a built-in name, ``figure1`` by default) with
:func:`hmipv6.sim.scenario.load`, applying ``--seed``, every ``--set key=value`` in order, then
``--duration``, and checking every protocol of the run (``--protocol`` / ``--compare``)
against the scenario, so a run that cannot happen stops before anything is written.
It then runs the scenario once per protocol with :func:`hmipv6.sim.network.run`:
``--protocol P`` runs one, otherwise ``--compare`` (default ``mipv6,hmipv6``) runs each on
the same scenario and seed. Each run's report dict (format
``hmipv6-report/1``, docs/report.md) is written as JSON; nothing here edits
it, so the files are the contract and the table is a view of them.

Output directory (``--out``, default ``hmipv6-out``; the files of an earlier run listed here
are removed first, :data:`OWNED`)::

    report.json                    one protocol                (report-<protocol>.json each when comparing)
    pcap/<link>.pcap               every link and cell         (pcap/<protocol>/<link>.pcap when comparing)
    timeline.png handovers.png signalling.png   plots of the report(s) (hmipv6.sim.plots)

The table printed (rich) shows per handover its kind, latency (link-layer down to first data
packet), registration time (BU to the BA that restores inbound traffic) and packets lost; the
flows; and the mobility signalling by destination. With many handovers it shows the first
:data:`MAX_ROWS` and a summary by handover kind.

A scenario that cannot run is one line on stderr naming the file, the key and the problem
(the :class:`~hmipv6.sim.scenario.ScenarioError` message), exit status 2; so is any other
:class:`~hmipv6.errors.HMIPv6Error` raised while setting the run up. Usage errors are
argparse's (status 2). A progress bar appears when a run takes more than
:data:`PROGRESS_AFTER` seconds of wall-clock time, on a terminal, without ``--quiet``.

``scenarios`` lists the built-in scenarios, one line each: the ``description`` key of each
file's ``[scenario]`` table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hmipv6.errors import HMIPv6Error
from hmipv6.sim import scenario as scenario_mod
from hmipv6.sim.compare import handover_time, is_map_change, pair_handovers
from hmipv6.sim.scenario import BUILTIN_SCENARIOS, PROTOCOLS, ScenarioError

__all__ = ["FILES_HELP", "MAX_ROWS", "OWNED", "PROGRESS_AFTER", "clear_outputs", "duration_arg",
           "print_comparison", "protocol_list", "register", "run_scenarios", "run_simulate",
           "table_console"]

MAX_ROWS = 20
"""Handover and flow rows printed before the table is cut short (a summary follows)."""

PROGRESS_AFTER = 2.0
"""Wall-clock seconds of a run before its progress bar appears."""

FILES_HELP = {  # what each output is (the files listed under the table; testbed run too)
    "report": "the report (format hmipv6-report/1): handovers, flows, signalling, node state",
    "pcap": "one pcap per link and cell (raw IPv6; open with Wireshark or `hmipv6 decode`)",
    "timeline.png": "handover timelines: L2 down/up, RA, CoA, BU, BA, first data per handover",
    "handovers.png": "latency and packets lost per handover, protocols side by side",
    "signalling.png": "mobility signalling sent to the home agent, correspondents and MAPs",
}


# --------------------------------------------------------------------------------------------
# Registration


def register(sub: Any) -> None:
    """Add ``simulate`` and ``scenarios`` to the ``hmipv6`` subcommands."""
    p = sub.add_parser(
        "simulate", help="run a scenario in the simulator and compare Mobile IPv6 with HMIPv6",
        description="Run a scenario (a TOML file or a built-in name; default figure1) in the "
                    "deterministic simulator. Without --protocol, runs Mobile IPv6 and HMIPv6 on "
                    "the same scenario and seed and prints their handovers side by side.")
    p.add_argument("scenario", nargs="?", default="figure1", metavar="SCENARIO|NAME",
                   help="scenario file or built-in name (see `hmipv6 scenarios`; default figure1)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--protocol", choices=PROTOCOLS,
                       help="run this one protocol (writes report.json)")
    which.add_argument("--compare", type=protocol_list, default=None, metavar="P1,P2",
                       help="run each of these protocols (default mipv6,hmipv6 when no "
                            "--protocol is given; writes report-<protocol>.json each)")
    p.add_argument("--seed", type=int, help="random seed (overrides [scenario] seed)")
    p.add_argument("--duration", type=duration_arg, metavar="D",
                   help="simulate D (e.g. 12s) instead of the scenario's duration: later "
                        "moves and faults are left out, flows stop at D (applied after "
                        "--set and after generators)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key, e.g. defaults.l2_handover=100ms or "
                        "nodes.map1.preference=3 (repeatable)")
    p.add_argument("--out", type=Path, default=Path("hmipv6-out"), metavar="DIR",
                   help="output directory (default hmipv6-out)")
    p.add_argument("--export-sa", type=Path, metavar="FILE",
                   help="write the IPsec SAs as a Wireshark esp_sa file (per protocol, "
                        "FILE-<protocol> when comparing); under profile rfc5380 the "
                        "IKE-negotiated Child SAs are included and the IKE SAs' keys "
                        "written to FILE.ikev2 (Wireshark ikev2_decryption_table)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing but errors (no table, no progress bar)")
    p.set_defaults(handler=run_simulate)

    s = sub.add_parser("scenarios", help="list the built-in scenarios",
                       description="List the built-in scenarios `hmipv6 simulate NAME` runs.")
    s.set_defaults(handler=run_scenarios)


def duration_arg(text: str) -> float:
    """``--duration``: a positive duration (``12s``, ``1500ms``), as scenario files write them."""
    try:
        seconds = scenario_mod.parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than zero, got {text!r}")
    return seconds


def protocol_list(text: str) -> list[str]:
    """``--compare P1,P2`` (simulate and testbed run): known protocols, none twice."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected protocols separated by commas")
    for t in items:
        if t not in PROTOCOLS:
            raise argparse.ArgumentTypeError(
                f"unknown protocol {t!r} (expected: {', '.join(PROTOCOLS)})")
    if len(set(items)) != len(items):
        raise argparse.ArgumentTypeError("a protocol is listed twice")
    return items


# --------------------------------------------------------------------------------------------
# hmipv6 scenarios


def run_scenarios(args: argparse.Namespace) -> int:
    """Print the built-in scenarios, one line each: the ``description`` of each file."""
    del args
    width = max(len(n) for n in BUILTIN_SCENARIOS)
    for name in BUILTIN_SCENARIOS:
        path = scenario_mod.builtin_path(name)
        description = scenario_mod.description_of(path) if path is not None else ""
        print(f"{name:<{width}}  {description or '(no description)'}")
    return 0


# --------------------------------------------------------------------------------------------
# hmipv6 simulate


UNPROTECTED_WARNING = (
    '{cmd}: warning: security = "none": binding updates and acknowledgements travel '
    "unprotected, which RFC 4140 §12.1 forbids (any host could redirect an RCoA's traffic); "
    "for comparison runs only (the report says \"security\": \"none\")")


def _error(message: str) -> int:
    print(f"hmipv6 simulate: error: {message}", file=sys.stderr)
    return 2


def run_simulate(args: argparse.Namespace) -> int:
    """Run the scenario once per protocol, write reports, pcaps and plots, print the table."""
    protocols: list[str] = ([args.protocol] if args.protocol is not None
                            else args.compare if args.compare is not None
                            else ["mipv6", "hmipv6"])
    comparing = args.protocol is None
    out: Path = args.out
    try:
        # Every protocol of the run is checked here, before anything runs or is written.
        scenario = scenario_mod.load(
            args.scenario, args.overrides, seed=args.seed, duration=args.duration,
            protocols=protocols,
            protocols_from="--protocol" if args.protocol is not None else "--compare")
    except ScenarioError as e:
        return _error(str(e))
    if args.export_sa is not None and not args.export_sa.resolve().parent.is_dir():
        # Found out now, not after the run (as the testbed does).
        return _error(f"--export-sa {args.export_sa}: no such directory")
    if scenario.defaults.security == "none":
        print(UNPROTECTED_WARNING.format(cmd="hmipv6 simulate"), file=sys.stderr)

    from hmipv6.sim import network  # the simulator proper: only imported when running
    from hmipv6.sim import report as report_mod

    interactive = not args.quiet and sys.stdout.isatty()
    reports: dict[str, dict[str, Any]] = {}
    files: list[tuple[Path, str]] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        clear_outputs(out, OWNED)
    except OSError as e:
        return _error(f"cannot create {out}: {e.strerror or e}")
    for proto in protocols:
        pcap_dir = out / "pcap" / proto if comparing else out / "pcap"
        export_sa = None
        if args.export_sa is not None:
            export_sa = (args.export_sa.with_name(f"{args.export_sa.stem}-{proto}"
                                                  f"{args.export_sa.suffix}")
                         if comparing else args.export_sa)
        label = f"{scenario.name} ({proto})"
        try:
            pcap_dir.mkdir(parents=True, exist_ok=True)
            with _ProgressBar(label, scenario.duration, enabled=interactive) as bar:
                result = network.run(scenario, protocol=proto, pcap_dir=pcap_dir,
                                     export_sa=export_sa, progress=bar)
        except ScenarioError as e:
            return _error(str(e))
        except HMIPv6Error as e:
            return _error(f"{scenario.source}: {proto}: {e}")
        except OSError as e:
            return _error(f"{getattr(e, 'filename', None) or out}: {e.strerror or e}")
        report: dict[str, Any] = result.report
        reports[proto] = report
        path = out / (f"report-{proto}.json" if comparing else "report.json")
        path.write_text(report_mod.dumps(report), encoding="utf-8")
        files.append((path, FILES_HELP["report"] + (f" ({proto})" if comparing else "")))
        files.append((pcap_dir, FILES_HELP["pcap"]))
        if export_sa is not None and export_sa.exists():
            files.append((export_sa, "IPsec SAs for Wireshark (copy to ~/.config/wireshark/esp_sa)"))
            ikev2 = export_sa.with_name(f"{export_sa.name}.ikev2")
            if ikev2.exists():
                files.append((ikev2, "IKEv2 SAs for Wireshark (copy to "
                                     "~/.config/wireshark/ikev2_decryption_table)"))

    from hmipv6.sim.plots import write_plots  # matplotlib is slow to import

    for png in write_plots(reports, out):
        files.append((png, FILES_HELP[png.name]))
    if not args.quiet:
        print_comparison(reports, files, console=table_console())
    return 0


OWNED = ("report.json", "report-*.json", "pcap", "timeline.png", "handovers.png",
         "signalling.png")
"""What ``simulate`` writes in ``--out``: removed before a run, so a reused directory never
mixes this run's files with an earlier run's (a report of a protocol not run this time)."""


def clear_outputs(out: Path, owned: Sequence[str]) -> None:
    """Remove the files and folders matching ``owned`` (glob patterns) directly in ``out``;
    nothing else in it is touched."""
    import shutil

    for pattern in owned:
        for path in sorted(out.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def table_console() -> Console:
    """Where the tables go: rich on a terminal, plain 120 columns otherwise."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=120, no_color=True, highlight=False)


class _ProgressBar:
    """The ``progress`` callback given to ``network.run``: a rich bar over simulated time,
    shown only once the run has taken :data:`PROGRESS_AFTER` wall-clock seconds."""

    def __init__(self, label: str, duration: float, *, enabled: bool) -> None:
        self.label = label
        self.duration = duration
        self.enabled = enabled
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __call__(self, now: float, duration: float) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            if time.monotonic() - self.started < PROGRESS_AFTER:
                return
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("{task.completed:.1f}/{task.total:.1f} s simulated"),
                                     TimeElapsedColumn(), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=duration)
        self.progress.update(self.task, completed=min(now, duration))

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


# --------------------------------------------------------------------------------------------
# The table


def _ms(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value * 1000:.1f}"


def _int(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def print_comparison(reports: Mapping[str, Mapping[str, Any]], files: Sequence[tuple[Path, str]],
                     *, console: Console) -> None:
    """Print the handover, flow and signalling tables of one or more reports, then the files."""
    protocols = list(reports)
    first = next(iter(reports.values()))
    # Testbed reports (hmipv6 testbed run --compare): wall-clock runs, possibly cut short.
    testbed = first.get("world") == "testbed"
    console.print(f"[bold]{first.get('scenario')}[/bold]: {first.get('duration')} s "
                  f"{'on the testbed (wall clock)' if testbed else 'simulated'}, "
                  f"seed {first.get('seed')}, profile {first.get('profile')}, "
                  f"protocol{'s' if len(protocols) > 1 else ''} {', '.join(protocols)}")
    for p, r in reports.items():
        tb = r.get("testbed")
        stopped = tb.get("interrupted") if isinstance(tb, Mapping) else None
        if isinstance(stopped, int | float):
            console.print(f"{p}: interrupted at {stopped:.1f} s (partial results)")

    rows = pair_handovers(reports)
    t = Table(title="Handovers", title_justify="left")
    for name, justify in (("MN", "left"), ("move", "left"), ("at s", "right"),
                          ("protocol", "left"), ("kind", "left"), ("latency ms", "right"),
                          ("registration ms", "right"), ("lost", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    shown = rows[:MAX_ROWS]
    if len(rows) > MAX_ROWS:  # the summary covers everything: show moves, not attachments
        shown = [r for r in rows if any(h.get("kind") not in (None, "initial")
                                        for h in r.by_protocol.values())][:MAX_ROWS] or shown
    for row in shown:
        # One row per protocol that has this move (or MAP change): the handovers are paired
        # by the move, not by their position in each report (hmipv6.sim.compare).
        h0 = row.first()
        if is_map_change(h0):
            # A change of MAP without a move (e.g. after a MAP failure, RFC 4140 §10).
            move = f"MAP change at {h0.get('to')}"
        elif h0.get("from"):
            move = f"{h0.get('from')} → {h0.get('to')}"
        else:
            move = f"→ {h0.get('to')}"
        present = [p for p in protocols if p in row.by_protocol]
        first_at = "-" if row.at is None else f"{row.at:.3f}"
        for i, p in enumerate(present):
            h = row.by_protocol[p]
            # A protocol's own time where it differs from the first one's (on the testbed
            # each run sees the move at its own wall-clock time); blank where it is the same.
            at = handover_time(h)
            own = "-" if at is None else f"{at:.3f}"
            lead = ([row.mn, move, first_at] if i == 0
                    else ["", "", "" if own == first_at else own])
            t.add_row(*lead, p, str(h.get("kind")), _ms(h.get("latency")),
                      _ms(h.get("registration")), _int(h.get("lost")),
                      end_section=i == len(present) - 1 and len(protocols) > 1)
    if len(rows) > MAX_ROWS:
        t.caption = (f"{len(shown)} of {len(rows)} handovers (the first moves); "
                     "summary by kind below")
    if not rows:
        t.caption = "no handovers"
    console.print(t)
    if len(rows) > MAX_ROWS:
        console.print(_summary_by_kind(reports))

    flows = Table(title="Flows", title_justify="left")
    flows.add_column("flow")
    flows.add_column("protocol")
    # Probes sent in the run's last second that had not arrived are in flight, not lost
    # (hmipv6.sim.traffic.DRAIN): a column of their own when there are any.
    in_flight = any(f.get("in_flight") for r in reports.values() for f in r.get("flows", []))
    for c in ("sent", "received", "lost", *(("in flight",) if in_flight else ()),
              "max gap ms"):
        flows.add_column(c, justify="right")
    n_flows = max((len(r.get("flows", [])) for r in reports.values()), default=0)
    for j in range(min(n_flows, MAX_ROWS)):
        f0 = next(r["flows"][j] for r in reports.values() if j < len(r.get("flows", [])))
        for i, p in enumerate(protocols):
            label = f"{f0.get('from')} → {f0.get('to')} {f0.get('kind')}" if i == 0 else ""
            fl = reports[p].get("flows", [])
            last = i == len(protocols) - 1 and len(protocols) > 1
            if j < len(fl):
                f = fl[j]
                extra = (_int(f.get("in_flight", 0)),) if in_flight else ()
                flows.add_row(label, p, _int(f.get("sent")), _int(f.get("received")),
                              _int(f.get("lost")), *extra, _ms(f.get("max_gap")),
                              end_section=last)
            else:
                flows.add_row(label, p, "-", "-", "-", *(("-",) if in_flight else ()), "-",
                              end_section=last)
    if n_flows > MAX_ROWS:
        flows.caption = f"first {MAX_ROWS} of {n_flows} flows"
    if n_flows == 0:
        flows.caption = "no flows"
    console.print(flows)

    sig = Table(title="Mobility signalling (messages)", title_justify="left")
    sig.add_column("")
    for p in protocols:
        sig.add_column(p, justify="right")
    sigs = {p: reports[p].get("signalling") or {} for p in protocols}
    for key, label in (("to_home_agent", "to home agent"), ("to_correspondents", "to correspondents"),
                       ("to_maps", "to MAPs")):
        sig.add_row(label, *(_int(sigs[p].get(key)) for p in protocols))
    types = sorted({k for p in protocols for k in (sigs[p].get("by_type") or {})})
    for ty in types:
        sig.add_row(f"{ty} (all)", *(_int((sigs[p].get("by_type") or {}).get(ty, 0))
                                     for p in protocols))
    sig.add_row("bytes on wireless", *(_int(sigs[p].get("bytes_on_wireless")) for p in protocols))
    console.print(sig)

    if files:
        console.print("[bold]Files[/bold]")
        width = max(len(str(p)) + 1 for p, _ in files)
        for path, what in files:
            name = f"{path}{'/' if path.is_dir() else ''}"
            console.print(f"  {name:<{width}}  {what}", highlight=False, soft_wrap=True)


def _summary_by_kind(reports: Mapping[str, Mapping[str, Any]]) -> Table:
    t = Table(title="Handovers by kind", title_justify="left")
    t.add_column("protocol")
    t.add_column("kind")
    for c in ("count", "mean latency ms", "mean registr. ms", "lost (total)"):
        t.add_column(c, justify="right")
    for p, report in reports.items():
        kinds: dict[str, list[Mapping[str, Any]]] = {}
        for h in report.get("handovers", []):
            kinds.setdefault(str(h.get("kind")), []).append(h)
        for kind in sorted(kinds):
            hs = kinds[kind]
            lat = [h["latency"] for h in hs if isinstance(h.get("latency"), int | float)]
            reg = [h["registration"] for h in hs if isinstance(h.get("registration"), int | float)]
            lost = sum(h["lost"] for h in hs if isinstance(h.get("lost"), int | float))
            t.add_row(p, kind, str(len(hs)), _ms(sum(lat) / len(lat)) if lat else "-",
                      _ms(sum(reg) / len(reg)) if reg else "-", _int(lost))
    return t
