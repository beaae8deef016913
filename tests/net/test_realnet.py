"""Real applications over the mobile node's home address on real kernels: the home address on
a TUN device in the mobile node's namespace, kernel ``ping`` carried by the daemons through
the MAP and home agent tunnels across a handover (needs root, ``ping``)."""

from __future__ import annotations

import re
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from hmipv6.net.apps import App
from hmipv6.net.testbed import run
from hmipv6.wire.icmpv6 import EchoReply, EchoRequest
from tests.conftest import need_root, need_tool

from .test_testbed import _packets

pytestmark = pytest.mark.netns

HOA = IPv6Address("2001:db8:f::100")
CN = IPv6Address("2001:db8:c::1")


def _ping_replies(path: Path) -> list[int]:
    return [int(m) for m in re.findall(r"icmp_seq=(\d+) ", path.read_text())]


@pytest.mark.req("MN-08", "MN-12", "MN-20")
def test_kernel_ping_from_the_home_address_across_an_intra_domain_move(tmp_path: Path) -> None:
    need_root()
    ping = need_tool("ping")
    # 20 Echo Requests per second from 1.5 s; the move AR1 -> AR2 at 4 s (probe ~50).
    r = run("figure1", overrides=("moves[1].at=4s",), duration=7.0, out=tmp_path, tun=True,
            apps=(App("ping", "mn", 1.5, (ping, "-6", "-n", "-i", "0.05", "-c", "100", "-W",
                                          "1", str(CN))),))
    assert [h["kind"] for h in r.report["handovers"]] == ["initial", "intra-domain"]
    replies = _ping_replies(r.apps["ping"].stdout)
    # The kernel's Echo Requests went out of the TUN device from the home address, and the
    # replies came back to it, before and after the move; once the MAP has the new LCoA
    # every probe is answered again.
    assert min(replies) < 40 and max(replies) == 100
    assert set(range(70, 101)) <= set(replies)
    mn = r.report["nodes"]["mn"]["counters"]
    assert mn["host-delivered"] >= len(replies)
    # On the correspondent's link, the kernel's pings are HoA <-> CN with nothing else:
    # neither care-of address appears (RFC 4140 §6.6, MN-20), no tunnel header.
    echoes = [p for _, p in _packets(r.pcap_files["cn-inet"])
              if isinstance(p.payload, (EchoRequest, EchoReply))]
    assert len(echoes) >= 2 * len(replies)
    assert {(p.src, p.dst) for p in echoes} == {(HOA, CN), (CN, HOA)}
