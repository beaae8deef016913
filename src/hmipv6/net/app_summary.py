"""What a run's real applications saw, in the report: ``report["apps"]`` and ``apps.png``.

Theory of operation
-------------------
Each application's standard output (:mod:`hmipv6.net.apps`) is read by the tool it came from:

- ``ping`` (iputils text output): probes sent and answered, the sequence numbers never
  answered, grouped into runs with the time the first of each was sent (``at`` of the app
  plus ``(seq - 1) * interval``, the interval being the one ping achieved: its elapsed
  time over the probes sent, ``-i`` when it printed no summary), the longest gap between
  two answered probes, and the round-trip times ping printed; when the run's end interrupted
  ping, its last unanswered probes were still in flight, counted apart
  (``in_flight_at_stop``), not as lost;
- ``iperf3 -J`` (client or server, TCP or UDP): the bytes and bits per second of every
  reporting interval (``-i 0.1`` gives throughput per 100 ms), the longest run of intervals
  in which nothing arrived, TCP retransmissions (the sender's count), UDP loss and jitter,
  and the error iperf3 reported if any (a reset connection is one);
- ``python3 -m hmipv6.net.echo client`` (:mod:`hmipv6.net.echo`): its JSON line as it is;
- anything else: its exit status only.

Times are seconds since the run's origin, like the report's handovers: an app's own clock
starts at its ``at``; an iperf3 server's intervals start when its client connected, taken as
the ``at`` of the iperf3 client app started after it.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from hmipv6.net.apps import AppResult

__all__ = ["plot_apps", "summarise"]

_SEQ = re.compile(r"icmp_seq=(\d+) .*?time=([\d.]+) ms")
_STATS = re.compile(r"(\d+) packets transmitted, (\d+) received.*?time (\d+)ms")


def _option(argv: tuple[str, ...], flag: str, default: float) -> float:
    for i, w in enumerate(argv[:-1]):
        if w == flag:
            try:
                return float(argv[i + 1])
            except ValueError:
                return default
    return default


def _ping(res: AppResult, text: str) -> dict[str, Any]:
    interval = _option(res.app.argv, "-i", 1.0)
    answered = {int(s): float(rtt) for s, rtt in _SEQ.findall(text)}
    stats = _STATS.search(text)
    sent = int(stats.group(1)) if stats else (max(answered) if answered else 0)
    if stats and sent > 1:
        # What ping achieved (a loaded machine sends slower than -i asks): its elapsed time
        # over the probes sent.
        interval = int(stats.group(3)) / 1000 / (sent - 1)
    lost = [s for s in range(1, sent + 1) if s not in answered]
    in_flight = 0
    if res.stopped:
        # Interrupted at the end of the run: the last probes had no time to come back.
        while lost and lost[-1] == sent - in_flight:
            lost.pop()
            in_flight += 1
    runs: list[list[float]] = []
    for s in lost:
        if runs and runs[-1][2] == s - 1:
            runs[-1][1] += 1
            runs[-1][2] = s
        else:
            runs.append([round(res.app.at + (s - 1) * interval, 3), 1, s])
    seqs = sorted(answered)
    gap = max((b - a for a, b in itertools.pairwise(seqs)), default=0) * interval
    rtts = sorted(answered.values())
    return {"tool": "ping", "interval": round(interval, 6), "sent": sent,
            "received": len(answered), "lost": len(lost), "in_flight_at_stop": in_flight,
            "lost_runs": [[at, int(n)] for at, n, _ in runs],
            "max_gap": round(gap, 4),
            "rtt_ms": ({"min": rtts[0], "median": rtts[len(rtts) // 2], "max": rtts[-1]}
                       if rtts else None)}


def _iperf3(res: AppResult, text: str, t0: float) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except ValueError:
        return {"tool": "iperf3", "error": "no JSON output (run it with -J)"}
    start = d.get("start", {})
    role = "server" if "accepted_connection" in start else "client"
    proto = start.get("test_start", {}).get("protocol", "?")
    series = []
    for i in d.get("intervals", []):
        s = i.get("sum", {})
        series.append([round(t0 + s.get("start", 0.0), 3), s.get("bytes", 0),
                       round(s.get("bits_per_second", 0.0) / 1e6, 3),
                       s.get("retransmits")])
    longest = run = 0
    step = 0.0
    for i in d.get("intervals", []):
        s = i.get("sum", {})
        step = s.get("seconds", step)
        run = run + 1 if s.get("bytes", 0) == 0 else 0
        longest = max(longest, run)
    end = d.get("end", {})
    out: dict[str, Any] = {"tool": "iperf3", "role": role, "protocol": proto,
                           "error": d.get("error"),
                           "longest_stall": round(longest * step, 3),
                           "intervals": series}
    if proto == "TCP":
        sent, received = end.get("sum_sent", {}), end.get("sum_received", {})
        out |= {"bytes_sent": sent.get("bytes"), "bytes_received": received.get("bytes"),
                "retransmits": sent.get("retransmits"),
                "mbps": round(received.get("bits_per_second", 0.0) / 1e6, 3)}
    else:
        s = end.get("sum", {})
        out |= {"packets": s.get("packets"), "lost_packets": s.get("lost_packets"),
                "jitter_ms": s.get("jitter_ms"),
                "mbps": round(s.get("bits_per_second", 0.0) / 1e6, 3)}
    return out


def _tool(res: AppResult) -> str:
    argv = res.app.argv
    name = Path(argv[0]).name
    if "hmipv6.net.echo" in argv:
        return "echo"
    return name


def summarise(results: dict[str, AppResult]) -> list[dict[str, Any]]:
    """One summary per application, in start order (module docstring)."""
    out = []
    ordered = sorted(results.values(), key=lambda r: (r.app.at, r.app.name))
    clients = [r.app.at for r in ordered if _tool(r) == "iperf3" and "-c" in r.app.argv]
    for res in ordered:
        text = res.stdout.read_text(errors="replace") if res.stdout.exists() else ""
        head: dict[str, Any] = {"name": res.app.name, "node": res.app.node,
                                "at": round(res.app.at, 3), "command": list(res.app.argv),
                                "exit": res.returncode, "stopped": res.stopped,
                                "output": f"apps/{res.stdout.name}"}
        tool = _tool(res)
        body: dict[str, Any]
        if tool == "ping":
            body = _ping(res, text)
        elif tool == "iperf3":
            t0 = res.app.at
            if "-s" in res.app.argv:
                t0 = next((at for at in clients if at >= res.app.at), res.app.at)
            body = _iperf3(res, text, t0)
        elif tool == "echo" and "server" in res.app.argv:
            body = {"tool": "echo", "role": "server"}
        elif tool == "echo":
            try:
                body = json.loads(text.strip().splitlines()[-1]) if text.strip() else {}
            except ValueError:
                body = {"tool": "echo", "error": "unreadable output"}
            body.setdefault("tool", "echo")
        else:
            body = {"tool": tool}
        out.append(head | body)
    return out


def plot_apps(report: dict[str, Any], path: Path) -> Path | None:
    """``apps.png``: per application, what it saw over time (iperf3 Mbit/s per interval,
    ping probes answered and lost, echo waits), with each handover's link-down instant as a
    vertical line. None when no application has a time series."""
    apps = [a for a in report.get("apps", []) if a.get("tool") == "iperf3"
            or (a.get("tool") in ("ping", "echo") and a.get("role") != "server")]
    if not apps:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(apps), 1, figsize=(9, 2.4 * len(apps)), squeeze=False,
                             sharex=True)
    downs = [h["timeline"].get("l2_down") for h in report.get("handovers", [])
             if h.get("from") is not None]
    for ax, a in zip(axes[:, 0], apps, strict=True):
        tool = a["tool"]
        if tool == "iperf3":
            xs = [i[0] for i in a.get("intervals", [])]
            ax.step(xs, [i[2] for i in a.get("intervals", [])], where="post")
            ax.set_ylabel("Mbit/s")
            rt = a.get("retransmits")
            extra = f", {rt} retransmissions" if rt is not None else ""
        elif tool == "ping":
            lost = a.get("lost_runs", [])
            for at, n in lost:
                ax.axvspan(at, at + n * a["interval"], color="tab:red", alpha=0.4)
            ax.set_ylabel("lost")
            ax.set_yticks([])
            extra = f", {a['lost']} of {a['sent']} lost, longest gap {a['max_gap'] * 1000:.0f} ms"
        else:
            waits = a.get("waits", [])
            ax.bar([a["at"] + w[0] for w in waits], [w[1] * 1000 for w in waits], width=0.05)
            ax.set_ylabel("echo wait ms")
            extra = f", longest wait {(a.get('max_wait') or 0) * 1000:.0f} ms"
        for t in downs:
            if t is not None:
                ax.axvline(t, color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"{a['name']} ({a['node']}){extra}", fontsize=9)
    axes[-1, 0].set_xlabel("s since the run's start (dashed: link down of a handover)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
