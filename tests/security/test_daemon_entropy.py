"""Real networks draw the engines' secrets from the operating system, not from the scenario.

Every host of a network shares the scenario file (README, *Deployment*), so whatever is
derived from its seed is known to every host, mobile nodes included. A daemon's IKEv2
exchanges (RFC 7296 §2.10: nonces "MUST be randomly chosen"; §5: security "critically
dependent on the randomness of the randomly chosen parameters") and return-routability keys
(RFC 6275 §5.2.1: Kcn "MUST be a random number") therefore come
from ``random.SystemRandom`` (``sim.engines.system_entropy``); the simulator keeps its seeded
draws (the same scenario and seed replay the same run).

Shown by what goes on the wire: two daemons built from the same scenario, as two hosts (or a
daemon restarted) would be, send different IKE_SA_INIT nonces, keys and SPIs for the same
exchange, where two simulator builds send the same octets. No sockets, no root.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from ipaddress import IPv6Address

from hmipv6.core.ike import IkeResponder
from hmipv6.core.ike.client import IkeClient
from hmipv6.core.ike.message import KeyExchange, Nonce, decode
from hmipv6.core.map import MobilityAnchorPoint
from hmipv6.core.mobile_node import MobileNode
from hmipv6.core.node import Node
from hmipv6.net.daemon import Daemon
from hmipv6.sim.engines import build_engines, make_provisioner
from hmipv6.sim.scenario import Scenario, load

LCOA = IPv6Address("2001:db8:a1::1")


def _scenario() -> Scenario:
    return load("figure1", ("scenario.profile=rfc5380",))


def _daemon_node(sc: Scenario, name: str) -> Node:
    async def build() -> Node:
        return Daemon(sc, name, io.StringIO(), "t", "hmipv6", shaping=False).node

    return asyncio.run(build())


def _simulated_node(sc: Scenario, name: str) -> Node:
    return build_engines(sc, "hmipv6", make_provisioner(sc))[name]


def _exchange(sc: Scenario, build: Callable[[Scenario, str], Node]) -> tuple[bytes, bytes]:
    """The mobile node's IKE_SA_INIT request to map1 and map1's response to it, from engines
    built by ``build`` (as a daemon or as the simulator builds them)."""
    mn, map_ = build(sc, "mn"), build(sc, "map1")
    map_address = sc.address_of("map1")
    assert map_address is not None
    assert isinstance(mn, MobileNode) and isinstance(mn.ike, IkeClient)
    assert isinstance(map_, MobilityAnchorPoint)
    responder = getattr(map_, "ike", None)
    assert isinstance(responder, IkeResponder)
    (request,) = mn.ike.start(0.0, map_address)
    (response,) = responder.receive(0.0, request, LCOA)
    return request, response


def _secrets(message: bytes) -> tuple[int, int, bytes, bytes]:
    msg = decode(message)
    (nonce,) = [p for p in msg.payloads if isinstance(p, Nonce)]
    (ke,) = [p for p in msg.payloads if isinstance(p, KeyExchange)]
    return msg.spi_i, msg.spi_r, nonce.data, ke.data


def test_two_daemons_of_one_scenario_draw_different_ike_secrets() -> None:
    sc = _scenario()
    first, second = _exchange(sc, _daemon_node), _exchange(sc, _daemon_node)
    for a, b in zip(first, second, strict=True):
        spi_i_a, _, nonce_a, ke_a = _secrets(a)
        spi_i_b, _, nonce_b, ke_b = _secrets(b)
        assert nonce_a != nonce_b and ke_a != ke_b
        assert spi_i_a != spi_i_b
    assert _secrets(first[1])[1] != _secrets(second[1])[1]  # the MAP's SPI


def test_daemon_engines_and_exchanges_use_the_systems_generator() -> None:
    import random

    sc = _scenario()
    for name in ("mn", "map1", "ha", "ar1"):
        node = _daemon_node(sc, name)
        assert isinstance(node.rng, random.SystemRandom), name
        ike = getattr(node, "ike", None)
        if ike is not None:
            assert isinstance(ike.rng, random.SystemRandom), name


def test_the_simulator_still_replays_the_same_secrets() -> None:
    sc = _scenario()
    assert _exchange(sc, _simulated_node) == _exchange(sc, _simulated_node)
