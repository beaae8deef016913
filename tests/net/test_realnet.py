"""Real applications over the mobile node's home address on real kernels: the home address on
a TUN device in the mobile node's namespace, kernel ``ping`` carried by the daemons through
the MAP and home agent tunnels across a handover (needs root, ``ping``)."""

from __future__ import annotations

import json
import re
import subprocess
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from hmipv6.net.apps import App
from hmipv6.net.testbed import run
from hmipv6.sim.network import run as simulate
from hmipv6.sim.scenario import builtin_path
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
    r = run("figure1", overrides=("moves[1].at=4s",), duration=8.5, out=tmp_path, tun=True,
            apps=(App("ping", "mn", 1.5, (ping, "-6", "-n", "-i", "0.05", "-c", "100", "-W",
                                          "1", str(CN))),))
    assert [h["kind"] for h in r.report["handovers"]] == ["initial", "intra-domain"]
    text = r.apps["ping"].stdout.read_text()
    replies = _ping_replies(r.apps["ping"].stdout)
    sent = int(re.search(r"(\d+) packets transmitted", text).group(1))  # type: ignore[union-attr]
    # The kernel's Echo Requests went out of the TUN device from the home address, and the
    # replies came back to it, before and after the move; once the MAP has the new LCoA
    # every probe is answered again (but the last few, in flight if the run's end came
    # first on a slow machine).
    assert min(replies) < 40 and sent > 80
    assert set(range(70, sent - 2)) <= set(replies)
    mn = r.report["nodes"]["mn"]["counters"]
    assert mn["host-delivered"] >= len(replies)
    # On the correspondent's link, the kernel's pings are HoA <-> CN with nothing else:
    # neither care-of address appears (RFC 4140 §6.6, MN-20), no tunnel header.
    echoes = [p for _, p in _packets(r.pcap_files["cn-inet"])
              if isinstance(p.payload, (EchoRequest, EchoReply))]
    assert len(echoes) >= 2 * len(replies)
    assert {(p.src, p.dst) for p in echoes} == {(HOA, CN), (CN, HOA)}


# -- kernel routers and correspondents (kernel_nodes) and [[apps]] ----------------------------

APPS = """
[[apps]]
node = "mn"
run = "iperf3 -s -1 -J -i 0.1"
at = "0.3s"

[[apps]]
node = "mn"
run = "{python} -m hmipv6.net.echo server"
at = "0.3s"

[[apps]]
node = "mn"
run = "iperf3 -s -1 -J -i 0.1 -p 5202"
at = "0.3s"

[[apps]]
node = "cn"
run = "iperf3 -c {mn} -t SPAN -i 0.1 -J -b 4M"
at = "1.5s"
name = "iperf3"

[[apps]]
node = "cn"
run = "iperf3 -c {mn} -p 5202 -u -b 1M -l 1000 -t SPAN -i 0.1 -J"
at = "1.5s"
name = "iperf3-udp"

[[apps]]
node = "cn"
run = "{python} -m hmipv6.net.echo client {mn} SPAN"
at = "1.5s"
name = "echo"

[[apps]]
node = "cn"
run = "ping -6 -n -i 0.01 {mn}"
at = "1.5s"
name = "ping"

[[apps]]
node = "inet"
run = "ip -6 neigh show"
at = "END"
name = "neigh"
"""


def _scenario(tmp_path: Path, name: str, moves: dict[str, str], duration: float) -> Path:
    """The built-in scenario with its moves at ``moves``, no simulator flow, the ``APPS``."""
    path = builtin_path(name)
    assert path is not None
    text = path.read_text()
    text = text[:text.index("[[flows]]")]
    text = re.sub(r'duration = "\d+s"', f'duration = "{duration:g}s"', text, count=1)
    for old, new in moves.items():
        assert f'at = "{old}"' in text
        text = text.replace(f'at = "{old}"', f'at = "{new}"')
    # The clients start at 1.5 s and need about a second more than their span on the
    # emulated path (connection set-up and iperf3's closing exchange take several of its
    # round trips, 130 ms on two-domains, more on a loaded machine) before the run's end
    # interrupts them.
    span = duration - 3.5
    text += APPS.replace("SPAN", f"{span:g}").replace("END", f"{duration - 0.2:g}s")
    out = tmp_path / f"{name}-apps.toml"
    out.write_text(text)
    return out


def _tshark_rows(pcap: Path, fields: list[str], display: str) -> list[list[str]]:
    tshark = need_tool("tshark")
    args = [tshark, "-r", str(pcap), "-o", "tcp.check_checksum:TRUE", "-o",
            "udp.check_checksum:TRUE", "-Y", display, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    rows = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          check=True).stdout.splitlines()
    return [r.split("\t") for r in rows]


@pytest.mark.req("MN-08", "MN-12", "MN-13", "MN-20", "MAP-01", "HA-01")
@pytest.mark.parametrize(("name", "moves", "duration"), [
    ("figure1", {"8s": "4.5s"}, 8.5),
    ("two-domains", {"10s": "3.5s", "20s": "6s"}, 9.5),
])
def test_real_applications_from_a_kernel_correspondent_survive_the_moves(
        tmp_path: Path, name: str, moves: dict[str, str], duration: float) -> None:
    need_root()
    for tool in ("iperf3", "ping", "tshark"):
        need_tool(tool)
    scenario = _scenario(tmp_path, name, moves, duration)
    out = tmp_path / "out"
    # Kernel nodes are the default: no option.
    proc = subprocess.run(["hmipv6", "testbed", "run", str(scenario), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((out / "report.json").read_text())
    apps = {a["name"]: a for a in rep["apps"]}
    # Only MN, MAP(s), HA and ARs ran daemons; the router and correspondent were kernels,
    # and their relays emulated the links they send on (cn-inet: two kernels).
    assert rep["testbed"]["kernel_nodes"] == ["cn", "inet"]
    assert not {"cn", "inet"} & set(rep["testbed"]["daemons"])
    for node in ("cn", "inet"):
        for counters in rep["testbed"]["egress"][node].values():
            assert counters["sent"] > 0 and counters["delivered"] > 0, (node, counters)
    moved = rep["handovers"][1:]
    assert [h["kind"] for h in moved] == (["intra-domain"] if name == "figure1"
                                          else ["intra-domain", "inter-domain"])
    # The kernel router resolved the daemons' link-local addresses with Neighbor Discovery
    # (the daemons answered its solicitations).
    neigh = (out / "apps" / "neigh.out").read_text()
    assert re.search(r"lladdr \S+ router (REACHABLE|STALE|DELAY|PROBE)", neigh), neigh
    # iperf3 over TCP, CN -> home address, across the moves: no connection reset, data
    # arriving in the last second as in the first.
    iperf = apps["iperf3"]
    assert iperf["exit"] == 0 and iperf["error"] is None and iperf["protocol"] == "TCP"
    assert iperf["bytes_received"] > 0 and iperf["retransmits"] is not None
    server = next(a for a in rep["apps"] if a["tool"] == "iperf3" and a["role"] == "server"
                  and a["protocol"] == "TCP")
    assert server["error"] is None
    assert sum(i[1] for i in server["intervals"][-10:]) > 0
    assert sum(i[1] for i in server["intervals"][:10]) > 0
    assert f"app iperf3 (cn, iperf3): client TCP {iperf['mbps']} Mbit/s" in proc.stdout
    # iperf3 over UDP, CN -> home address: it ran to its end; what the handover lost is
    # counted by iperf3's receiver and reported.
    udp = apps["iperf3-udp"]
    assert udp["exit"] == 0 and udp["error"] is None and udp["protocol"] == "UDP"
    assert udp["packets"] > 0 and 0 <= udp["lost_packets"] < udp["packets"]
    # The TCP echo session over the home address stayed open and echoed every line.
    echo = apps["echo"]
    assert echo["exit"] == 0 and echo["error"] is None
    assert echo["sent"] > 20 and echo["echoed"] == echo["sent"]
    # Ping loss around each move agrees with the simulator's for the same scenario (its
    # CBR flow at ping's 10 ms), within a few packets; every probe is answered between.
    ping = apps["ping"]
    sim = simulate(scenario, overrides=(
        "flows=[{from = 'cn', to = 'mn', kind = 'cbr', interval = '10ms', size = 64, "
        f"start = '1.5s', stop = '{duration - 0.5:g}s'}}]",)).report
    for real, simulated in zip(moved, sim["handovers"][1:], strict=True):
        t = real["timeline"]["l2_down"]
        lost = sum(n for at, n in ping["lost_runs"] if t - 0.5 <= at <= t + 1.0)
        assert abs(lost - simulated["lost"]) <= 5, (lost, simulated["lost"], ping)
    assert ping["lost"] <= sum(h["lost"] for h in sim["handovers"]) + 5 * len(moved)
    assert (out / "apps.png").stat().st_size > 0
    # tshark on the correspondent's link: TCP with good checksums, nothing malformed, and
    # only the correspondent's and the home address (location privacy, MN-20).
    cn_link = out / "pcap" / "cn-inet.pcap"
    rows = _tshark_rows(cn_link, ["ipv6.src", "ipv6.dst", "tcp.checksum.status"], "tcp")
    assert len(rows) > 100
    assert {(s, d) for s, d, _ in rows} == {(str(CN), str(HOA)), (str(HOA), str(CN))}
    assert {st for *_, st in rows} == {"1"}  # tshark: 0 bad, 1 good, 2 unverified
    for pcap in (out / "pcap").glob("*.pcap"):
        assert not _tshark_rows(pcap, ["frame.number"],
                                "_ws.malformed || tcp.checksum.status == 0 || "
                                "udp.checksum.status == 0 || icmpv6.checksum.status == 0"), pcap
    global_addrs = {a for row in _tshark_rows(cn_link, ["ipv6.src", "ipv6.dst"], "ipv6")
                    for a in row if not a.startswith(("fe80", "ff02"))}
    assert global_addrs == {str(CN), str(HOA)}


def test_an_application_on_a_daemon_node_is_refused_before_the_run(tmp_path: Path) -> None:
    need_root()
    scenario = _scenario(tmp_path, "figure1", {}, 8.5)
    proc = subprocess.run(["hmipv6", "testbed", "run", str(scenario), "--daemon-nodes",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "apps[3].node: 'cn' runs a daemon, not a kernel" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.req("HA-01")
def test_home_agent_defends_the_home_address_for_a_kernel_router_on_its_link(
        tmp_path: Path) -> None:
    # The Internet router (a kernel) is told the home prefix is on its link to the home agent
    # (no next hop): it resolves the home address itself with Neighbor Discovery, and the
    # home agent daemon answers for the away mobile node (proxy ND, RFC 6275 §10.4.1).
    need_root()
    ping = need_tool("ping")
    r = run("figure1", overrides=("flows=[]",), duration=6.0, out=tmp_path,
            tun=True, kernel_nodes=True, apps=(
                App("onlink", "inet", 1.0, ("ip", "-6", "route", "replace", "2001:db8:f::/64",
                                            "dev", "eth1")),
                App("ping", "cn", 2.0, (ping, "-6", "-n", "-c", "10", "-i", "0.2", str(HOA))),
                App("neigh", "inet", 5.5, ("ip", "-6", "neigh", "show", str(HOA)))))
    assert r.apps["onlink"].returncode == 0
    assert " 0% packet loss" in r.apps["ping"].stdout.read_text()
    from hmipv6.core.node import link_local_for

    ha_mac = ":".join(f"{b:02x}" for b in link_local_for("ha", "eth0")[1])
    neigh = r.apps["neigh"].stdout.read_text()
    assert f"{HOA} dev eth1 lladdr {ha_mac}" in neigh, neigh
