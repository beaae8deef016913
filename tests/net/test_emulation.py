"""Link emulation in the daemons (egress shaping) and faults in the testbed.

Needs root (``need_root``). Timing bounds are generous: the machine may be loaded, and timer
lateness only ever adds to the emulated delays.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_root

pytestmark = pytest.mark.netns

TWO = """
[scenario]
name = "two-daemons"
duration = "{duration}"
seed = 1
protocol = "hmipv6"

[nodes.cn]
role = "correspondent"
address = "2001:db8:c::1"

[nodes.ha]
role = "home-agent"
address = "2001:db8:f::1"

[[links]]
between = ["cn", "ha"]
delay = "20ms"
bandwidth = "100Mbps"

[[flows]]
from = "cn"
to = "ha"
kind = "ping"
interval = "100ms"
size = 64
start = "0.2s"
stop = "{stop}"
"""


def _two(tmp_path: Path, duration: float = 1.6, extra: str = "") -> Path:
    path = tmp_path / "two.toml"
    path.write_text(TWO.format(duration=f"{duration}s", stop=f"{duration - 0.1}s") + extra)
    return path


def _faults(log: Path) -> list[str]:
    return [d["fault"] for line in log.read_text().splitlines()
            if (d := json.loads(line))["kind"] == "fault"]


def test_link_delay_is_emulated(tmp_path: Path) -> None:
    """Two daemons over a 20 ms link: every echo's round trip takes at least 40 ms, and not
    much more (the machine's timers and processing)."""
    need_root()
    from hmipv6.net.testbed import run

    rep = run(_two(tmp_path), out=tmp_path / "out").report
    flow = rep["flows"][0]
    assert flow["sent"] >= 10 and flow["received"] == flow["sent"]
    assert 0.040 <= flow["delay_mean"] <= flow["delay_max"] < 0.040 + 0.030, flow
    egress = rep["testbed"]["egress"]
    assert egress["cn"]["eth0"]["delivered"] == flow["sent"]
    assert egress["ha"]["eth0"]["delivered"] == flow["received"]


def test_loss_one_drops_everything_and_no_shaping_is_fast(tmp_path: Path) -> None:
    need_root()
    from hmipv6.net.testbed import run

    sc = _two(tmp_path)
    rep = run(sc, out=tmp_path / "lossy", overrides=("links[0].loss=1.0",)).report
    flow = rep["flows"][0]
    assert flow["sent"] >= 10 and flow["received"] == 0
    cn = rep["testbed"]["egress"]["cn"]["eth0"]
    assert cn["dropped_loss"] == cn["sent"] == flow["sent"] and cn["delivered"] == 0
    fast = run(sc, out=tmp_path / "fast", shaping=False).report
    assert fast["testbed"]["shaping"] is False and fast["testbed"]["egress"]["cn"] == {}
    assert fast["flows"][0]["received"] == fast["flows"][0]["sent"]
    assert fast["flows"][0]["delay_max"] < 0.040


def test_link_down_and_up(tmp_path: Path) -> None:
    """A link-down fault sets the veths down: the echoes in between are lost, then flow
    again."""
    need_root()
    from hmipv6.net.testbed import run

    sc = _two(tmp_path, 2.0, '\n[[faults]]\nat = "0.6s"\nnode = "cn"\nkind = "link-down"\n'
                             '\n[[faults]]\nat = "1.2s"\nnode = "cn"\nkind = "link-up"\n')
    result = run(sc, out=tmp_path / "out")
    flow = result.report["flows"][0]
    assert 2 <= flow["lost"] <= 9 and flow["received"] >= 6, flow
    assert _faults(result.logs["cn"]) == ["iface eth0 down", "iface eth0 up"]
    assert _faults(result.logs["ha"]) == ["iface eth0 down", "iface eth0 up"]


def _map_failure(tmp_path: Path, faults: str) -> Path:
    from hmipv6.sim.scenario import builtin_path

    builtin = builtin_path("map-failure")
    assert builtin is not None
    text = builtin.read_text()
    path = tmp_path / "mf.toml"
    path.write_text(text[:text.index("[[faults]]")] + faults)
    return path


@pytest.mark.req("MAP-09", "MN-13")
def test_preference_crash_restart(tmp_path: Path) -> None:
    """A MAP preference fault reaches the MAP and the access routers advertising it; the MN,
    selecting by preference, moves to the other MAP (inter-domain, no move). Crash and
    restart reach the daemon."""
    need_root()
    from hmipv6.net.testbed import run

    sc = _map_failure(tmp_path, '[[faults]]\nat = "1.5s"\nnode = "map1"\nkind = "preference"\n'
                                'value = 1\n\n[[faults]]\nat = "2s"\nnode = "map1"\n'
                                'kind = "crash"\n\n[[faults]]\nat = "2.5s"\nnode = "map1"\n'
                                'kind = "restart"\n')
    result = run(sc, duration=3.0, out=tmp_path / "out")
    rep = result.report
    first, change = rep["handovers"][:2]
    assert first["kind"] == "initial"
    assert change["kind"] == "inter-domain" and change["from"] == change["to"] == "ar1"
    assert 1.5 <= change["timeline"]["bu_sent"] < 2.0
    assert change["timeline"]["home_ba_received"] is not None
    assert rep["nodes"]["ha"]["binding_cache"][0]["coa"].startswith("2001:db8:200:")
    assert _faults(result.logs["map1"]) == ["preference 1", "crash", "restart"]
    assert _faults(result.logs["ar1"]) == ["map-preference 2001:db8:100::1 1"]


@pytest.mark.req("AR-07", "MN-18")
def test_map_failure_on_real_kernels(tmp_path: Path) -> None:
    """map-failure until just after the failover: map1 crashes at 8 s; the access routers'
    probes (RFC 4140 §10 timing: every 10 s, then every 5 s for 15 s) declare it failed at
    about 30 s, and the mobile node registers with map2 (an inter-domain handover without a
    move) and gets the home agent's BA."""
    need_root()
    out = tmp_path / "out"
    proc = subprocess.run(["hmipv6", "testbed", "run", "map-failure", "--duration", "31.5s",
                           "--out", str(out)], capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    rep: dict[str, Any] = json.loads((out / "report.json").read_text())
    failed = {e["node"] for e in rep["map_events"]
              if e["event"] == "failed" and e["map"] == "2001:db8:100::1"}
    assert {"ar1", "ar2"} <= failed
    assert all(28.0 <= e["time"] <= 32.0 for e in rep["map_events"])
    first, failover = rep["handovers"]
    assert first["kind"] == "initial"
    assert failover["kind"] == "inter-domain" and failover["from"] == failover["to"] == "ar1"
    t = failover["timeline"]
    assert t["map_failed"] is not None and t["home_ba_received"] is not None
    assert t["ba_received"] is not None and failover["registration"] is not None
    assert rep["nodes"]["ha"]["binding_cache"][0]["coa"] == rep["nodes"]["mn"]["rcoa"]
    assert rep["nodes"]["mn"]["rcoa"].startswith("2001:db8:200:")
    assert rep["flows"][0]["max_gap"] > 20.0  # the outage between crash and failover
