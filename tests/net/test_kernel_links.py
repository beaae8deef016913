"""Links whose sender is a kernel node (the testbed's default ordinary routers and
correspondents) are emulated by the node's link relay with the daemons' link model
(hmipv6.net.relay, hmipv6.net.shaper): delay, serialisation at the bandwidth, loss, and the
relay's counters in the report (needs root, ``ping``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hmipv6.net.apps import App
from hmipv6.net.testbed import run
from tests.conftest import need_root, need_tool

pytestmark = pytest.mark.netns

HA = "2001:db8:f::1"
SIZE = 1000
"""Echo data octets: an IPv6 packet of 40 + 8 + SIZE."""


def _rtts(text: str) -> list[float]:
    return [float(x) / 1000 for x in re.findall(r"time=([\d.]+) ms", text)]


def test_a_kernel_to_kernel_and_a_kernel_to_daemon_link_are_emulated(tmp_path: Path) -> None:
    need_root()
    ping = need_tool("ping")
    # figure1: cn -- inet (both kernels by default) -- ha (a daemon). The cn-inet link at
    # 1 Mbit/s and 150 ms, ha-inet at 100 ms; inet -> map1 loses everything.
    r = run("figure1", overrides=(
        "flows=[]", "links[0].delay=150ms", "links[0].bandwidth=1Mbps",
        "links[1].delay=100ms", "links[2].loss=1.0"), duration=7.0, out=tmp_path, apps=(
            App("ha", "cn", 1.0, (ping, "-6", "-n", "-c", "8", "-i", "0.3", "-s", str(SIZE),
                                  HA)),
            App("map", "cn", 1.0, (ping, "-6", "-n", "-c", "5", "-i", "0.3", "-W", "2",
                                   "2001:db8:100::1"))))
    testbed = r.report["testbed"]
    assert testbed["kernel_nodes"] == ["cn", "inet"]
    assert not {"cn", "inet"} & set(testbed["daemons"])
    rtts = _rtts(r.apps["ha"].stdout.read_text())
    assert len(rtts) >= 6
    # Each of the four transmissions (cn's relay, inet's relay towards ha, ha's daemon, inet's
    # relay towards cn) adds at least its serialisation and its delay: a timer fires late,
    # never early, so no round trip is shorter than the model's.
    packet = 40 + 8 + SIZE
    least = 2 * (packet * 8 / 1e6 + 0.150) + 2 * (packet * 8 / 100e6 + 0.100)
    assert min(rtts) >= least - 0.0005, (min(rtts), least)
    # inet's relay loses whatever it sends towards the MAP (loss 1.0), its Neighbor
    # Solicitations first: no reply, every loss counted.
    assert " 0 received" in r.apps["map"].stdout.read_text()
    egress = testbed["egress"]
    to_map = egress["inet"]["eth2"]
    assert to_map["sent"] >= 1 and to_map["dropped_loss"] == to_map["sent"]
    assert to_map["delivered"] == 0
    # The correspondent's relay shaped every Echo Request (and its Neighbor Discovery).
    cn = egress["cn"]["eth0"]
    assert cn["sent"] >= 8 + 5 and cn["delivered"] == cn["sent"]
    assert cn["bytes_sent"] >= 8 * packet


def test_daemon_nodes_opt_out_runs_a_daemon_everywhere(tmp_path: Path) -> None:
    need_root()
    r = run("figure1", overrides=("flows=[]",), duration=1.0, out=tmp_path,
            kernel_nodes=False)
    assert r.report["testbed"]["kernel_nodes"] == []
    assert {"cn", "inet"} <= set(r.report["testbed"]["daemons"])
