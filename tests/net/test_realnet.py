"""Real applications over the mobile node's home address on real kernels: the home address on
a TUN device in the mobile node's namespace, kernel ``ping`` carried by the daemons through
the MAP and home agent tunnels across a handover (needs root, ``ping``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any

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


# -- kernel routers and correspondents (kernel_nodes) ------------------------------------------

ECHO_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 7007)); s.listen(1)
c, _ = s.accept()
while data := c.recv(4096):
    c.sendall(data)
"""

ECHO_CLIENT = """
import json, socket, sys, time
c = socket.create_connection((sys.argv[1], 7007), timeout=30)
sent = echoed = 0
end = time.monotonic() + float(sys.argv[2])
try:
    while time.monotonic() < end:
        line = f"{sent:08d}\\n".encode()
        c.sendall(line)
        sent += 1
        got = b""
        while len(got) < len(line):
            got += c.recv(len(line) - len(got)) or sys.exit("closed by the peer")
        echoed += got == line
        time.sleep(0.02)
    error = None
except OSError as e:
    error = repr(e)
print(json.dumps({"sent": sent, "echoed": echoed, "error": error}))
"""


def _tshark_rows(pcap: Path, fields: list[str], display: str) -> list[list[str]]:
    tshark = need_tool("tshark")
    args = [tshark, "-r", str(pcap), "-o", "tcp.check_checksum:TRUE", "-o",
            "udp.check_checksum:TRUE", "-Y", display, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    rows = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          check=True).stdout.splitlines()
    return [r.split("\t") for r in rows]


def _kernel_run(tmp_path: Path, scenario: str, moves: tuple[str, ...], duration: float,
                python: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """figure1 / two-domains with kernel routers and correspondent, the MN's home address
    on a TUN device: an iperf3 TCP stream CN -> HoA and a TCP echo session across the
    moves."""
    iperf3 = need_tool("iperf3")
    server, client = tmp_path / "echo_server.py", tmp_path / "echo_client.py"
    server.write_text(ECHO_SERVER)
    client.write_text(ECHO_CLIENT)
    span = duration - 2.0
    r = run(scenario, overrides=(*moves, "flows=[]"), duration=duration, out=tmp_path / "out",
            tun=True, kernel_nodes=True, apps=(
                App("iperf3-server", "mn", 0.3, (iperf3, "-s", "-1", "-J", "-i", "0.1")),
                App("echo-server", "mn", 0.3, (python, str(server))),
                App("iperf3", "cn", 1.5, (iperf3, "-c", str(HOA), "-t", f"{span:g}", "-i",
                                          "0.1", "-J", "-b", "4M")),
                App("echo", "cn", 1.5, (python, str(client), str(HOA), f"{span - 0.3:g}")),
                App("neigh", "inet", duration - 0.2, ("ip", "-6", "neigh", "show"))))
    return r, json.loads(r.apps["iperf3"].stdout.read_text()), json.loads(
        r.apps["echo"].stdout.read_text())


@pytest.mark.req("MN-08", "MN-12", "MN-13", "MN-20", "MAP-01", "HA-01")
@pytest.mark.parametrize(("scenario", "moves", "duration", "kinds"), [
    ("figure1", ("moves[1].at=4s",), 8.0, ["initial", "intra-domain"]),
    ("two-domains", ("moves[1].at=3.5s", "moves[2].at=6s"), 9.5,
     ["initial", "intra-domain", "inter-domain"]),
])
def test_iperf3_and_tcp_echo_from_a_kernel_correspondent_survive_the_moves(
        tmp_path: Path, scenario: str, moves: tuple[str, ...], duration: float,
        kinds: list[str]) -> None:
    need_root()
    r, iperf, echo = _kernel_run(tmp_path, scenario, moves, duration, sys.executable)
    rep = r.report
    # Only MN, MAP(s), HA and ARs ran daemons; the router and correspondent were kernels.
    assert rep["testbed"]["kernel_nodes"] == ["cn", "inet"]
    assert "cn" not in rep["testbed"]["daemons"] and "inet" not in rep["testbed"]["daemons"]
    assert [h["kind"] for h in rep["handovers"]] == kinds
    # The kernel router resolved the daemons' link-local addresses with Neighbor Discovery
    # (the daemons answered its solicitations).
    neigh = r.apps["neigh"].stdout.read_text()
    assert "router" in neigh and ("REACHABLE" in neigh or "STALE" in neigh), neigh
    # iperf3 over TCP, CN -> home address, the whole time: no connection reset, every
    # second of it carried data after the moves too.
    assert r.apps["iperf3"].returncode == 0 and "error" not in iperf, iperf.get("error")
    intervals = iperf["intervals"]
    assert iperf["end"]["sum_sent"]["bytes"] > 0
    last = [i["sum"]["bytes"] for i in intervals if i["sum"]["start"] >= len(intervals) / 10 - 1]
    assert sum(last) > 0
    # The TCP echo session over the home address stayed open and echoed every line.
    assert echo["error"] is None and echo["sent"] > 50 and echo["echoed"] == echo["sent"]
    # tshark on the correspondent's link: TCP with good checksums, nothing malformed, and
    # only the correspondent's and the home address (location privacy, MN-20).
    cn_link = r.pcap_files["cn-inet"]
    rows = _tshark_rows(cn_link, ["ipv6.src", "ipv6.dst", "tcp.checksum.status"], "tcp")
    assert len(rows) > 100
    assert {(s, d) for s, d, _ in rows} == {(str(CN), str(HOA)), (str(HOA), str(CN))}
    assert {st for *_, st in rows} == {"1"}  # tshark: 0 bad, 1 good, 2 unverified
    for pcap in r.pcap_files.values():
        assert not _tshark_rows(pcap, ["frame.number"],
                                "_ws.malformed || tcp.checksum.status == 0 || "
                                "udp.checksum.status == 0 || icmpv6.checksum.status == 0")
    global_addrs = {a for s, d, _ in _tshark_rows(cn_link, ["ipv6.src", "ipv6.dst", "frame"],
                                                  "ipv6") for a in (s, d)
                    if not a.startswith("fe80") and not a.startswith("ff02")}
    assert global_addrs == {str(CN), str(HOA)}
