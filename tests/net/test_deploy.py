"""Deployed daemons on two "hosts" joined by VXLAN: figure1 split in two groups of namespaces
(cn, ha, inet | map1, ar1, ar2, mn), the link inet -- map1 carried by a VXLAN tunnel over an
underlay between two host namespaces, every daemon started on its own with ``hmipv6 node
--config FILE`` (no launcher: ``control = "none"``, MACs set by the daemon), the mobile node's
moves made by the interfaces' state. The kernel correspondent pings the home address across
a move. This is the README's multi-host recipe, with namespaces for hosts. Needs root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hmipv6.net.node_config import NodeConfig, load_config, write_config
from hmipv6.net.topology import Topology
from hmipv6.sim.scenario import MobileNodeSpec, builtin_path, load
from tests.conftest import need_root, need_tool

pytestmark = pytest.mark.netns

HOA = "2001:db8:f::100"


def _ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


def _split_over_vxlan(topo: Topology, a: str, b: str) -> tuple[str, str]:
    """Replace the veth between ``a`` and ``b`` by a bridge in each of two host namespaces
    joined by VXLAN (VNI 42, UDP 4789) over an underlay veth; returns the hosts."""
    sc, p = topo.scenario, topo.plan
    ia, ib = sc.interface_towards(a, b).name, sc.interface_towards(b, a).name
    host_a, host_b = f"hm-{p.run}-hostA", f"hm-{p.run}-hostB"
    for h in (host_a, host_b):
        subprocess.run(["ip", "netns", "add", h], check=True)
        topo.created.append(h)
    _ip(p.namespaces[a], "link", "del", ia)  # its peer in b goes with it
    subprocess.run(["ip", "link", "add", "u0", "netns", host_a, "type", "veth", "peer", "u0",
                    "netns", host_b], check=True)
    for h, me, other, node, ifname in ((host_a, "10.77.0.1", "10.77.0.2", a, ia),
                                       (host_b, "10.77.0.2", "10.77.0.1", b, ib)):
        _ip(h, "link", "set", "u0", "mtu", "1600", "up")
        _ip(h, "addr", "add", f"{me}/24", "dev", "u0")
        _ip(h, "link", "add", "vx42", "type", "vxlan", "id", "42", "local", me, "remote",
            other, "dstport", "4789", "dev", "u0")
        _ip(h, "link", "add", "br0", "type", "bridge")
        _ip(h, "link", "set", "vx42", "master", "br0", "mtu", "1500", "up")
        _ip(h, "link", "add", "p0", "type", "veth", "peer", ifname, "netns", p.namespaces[node])
        _ip(h, "link", "set", "p0", "master", "br0", "up")
        _ip(h, "link", "set", "br0", "up")
        _ip(p.namespaces[node], "link", "set", ifname, "up")
    return host_a, host_b


def _vxlan_packets(host: str) -> int:
    from pyroute2 import NetNS

    with NetNS(host) as n:
        link = n.get_links(n.link_lookup(ifname="vx42")[0])[0]
        stats = link.get_attr("IFLA_STATS64")
        return int(stats["rx_packets"]) + int(stats["tx_packets"])


@pytest.mark.req("MN-08", "MN-12")
def test_daemons_from_config_files_on_two_hosts_joined_by_vxlan(tmp_path: Path) -> None:
    need_root()
    ping = need_tool("ping")
    src = builtin_path("figure1")
    assert src is not None
    scenario = tmp_path / "network.toml"
    text = src.read_text()
    scenario.write_text(text[:text.index("[[flows]]")])
    sc = load(scenario)
    procs: dict[str, subprocess.Popen[str]] = {}
    with Topology(sc, kernel=frozenset({"cn"})) as topo:
        host_a, _ = _split_over_vxlan(topo, "inet", "map1")
        # One configuration file per daemon, as an operator would write it.
        for name, spec in sc.nodes.items():
            if name == "cn":
                continue
            ports = [p for p in topo.plan.ports[name] if p.engine]
            cfg = NodeConfig(path=tmp_path / f"{name}.toml", scenario=Path("network.toml"),
                             node=name, log=Path(f"logs/{name}.jsonl"),
                             tun=isinstance(spec, MobileNodeSpec),
                             interfaces={p.engine: p.kernel for p in ports if p.cell is None},
                             cells={p.cell: p.kernel for p in ports if p.cell is not None})
            write_config(cfg.path, cfg)
            assert load_config(cfg.path).scenario == scenario
            procs[name] = subprocess.Popen(
                ["ip", "netns", "exec", topo.namespace(name), sys.executable, "-m",
                 "hmipv6.cli", "node", "--config", str(cfg.path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
        try:
            # Each daemon starts on its own and says so on stderr; then the radio attaches.
            # Before that, a node whose signalling keys figure1 derives from its seed (the
            # mobile node, its MAP and home agent) warns that they are no deployment's.
            started = {}
            warned = {}
            for n, p in procs.items():
                assert p.stderr is not None
                lines = [p.stderr.readline()]
                while lines[-1] and ": running" not in lines[-1]:
                    lines.append(p.stderr.readline())
                started[n] = lines[-1]
                assert f"hmipv6 node {n}: running" in started[n], (n, lines, p.stderr.read())
                warned[n] = [line for line in lines[:-1]
                             if line.startswith(f"hmipv6 node {n}: warning: ")]
            assert {n for n, w in warned.items() if w} == {"mn", "map1", "ha"}
            assert "MN-MAP SAs mn-map1" in warned["map1"][0]
            assert "(2 interfaces, home address on hmip0)" in started["mn"]
            topo.set_attached("mn", "ar1", True)
            cn = topo.namespace("cn")

            def reachable() -> None:
                # Registration takes the daemons' time on a loaded machine: until then the
                # home agent answers "address unreachable".
                deadline = time.monotonic() + 60
                while subprocess.run(["ip", "netns", "exec", cn, ping, "-6", "-n", "-c", "1",
                                      "-W", "1", HOA], capture_output=True).returncode:
                    assert time.monotonic() < deadline, "the home address never answered"

            def pings() -> str:
                r = subprocess.run(["ip", "netns", "exec", cn, ping, "-6", "-n", "-c", "4",
                                    "-i", "0.3", "-W", "2", HOA], capture_output=True,
                                   text=True, timeout=60)
                assert r.returncode == 0, r.stdout + r.stderr
                return r.stdout

            reachable()
            first = pings()
            before = _vxlan_packets(host_a)
            topo.set_attached("mn", "ar1", False)  # the move: AR1's cell lost, AR2's found
            time.sleep(0.05)
            topo.set_attached("mn", "ar2", True)
            reachable()
            second = pings()
            assert " 0% packet loss" in first, first
            assert " 0% packet loss" in second, second
            assert _vxlan_packets(host_a) > before  # the pings crossed the VXLAN link
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            errs = {}
            for n, p in procs.items():
                try:
                    _, err = p.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    _, err = p.communicate()
                errs[n] = (p.returncode, err)
    assert all(rc == 0 for rc, _ in errs.values()), errs
    # The mobile node registered through AR1, then AR2 (a local BU to the MAP only).
    mn_log = (tmp_path / "logs" / "mn.jsonl").read_text()
    assert mn_log.count('"BindingAcknowledged"') >= 3
    assert '"kind": "final"' in mn_log
    assert not any(ns.startswith(f"hm-{os.getpid()}-") for ns in _list())


def _list() -> list[str]:
    from pyroute2 import netns

    return list(netns.listnetns())
