"""``hmipv6 node`` says so when a node's binding signalling would be protected by keys derived
from the scenario's seed (``sim.engines.seed_keyed``, ``net.daemon.key_warning``).

A deployed network shares one scenario file among all its hosts, mobile nodes included
(README, *Deployment*): the seed-derived SAs of ``security = "esp"``/``"ah"`` and the
seed-derived IKEv2 pre-shared keys are known to every one of them, so any host could forge
another's Binding Updates (RFC 4140 §12.1 / RFC 6275 §5.1 require the signalling protected).
Fine for a lab; a deployment configures ``[[sas]]`` or per-MN IKEv2 credentials. The list
follows what ``provision`` derives; a configured pair drops out of it.
"""

from __future__ import annotations

from hmipv6.net.daemon import key_warning
from hmipv6.sim.engines import seed_keyed
from hmipv6.sim.scenario import load
from tests.sim.sim_support import variant
from tests.sim.test_manual_sas import manual_sas_toml

PSK = "nodes.mn.ike.psk=a-long-enough-pre-shared-key"


def test_seed_derived_sas_are_named_per_node() -> None:
    sc = load("figure1")
    assert seed_keyed(sc, "hmipv6", "mn") == ["MN-MAP SAs mn-map1", "MN-HA SAs mn-ha"]
    assert seed_keyed(sc, "hmipv6", "map1") == ["MN-MAP SAs mn-map1"]
    assert seed_keyed(sc, "hmipv6", "ha") == ["MN-HA SAs mn-ha"]
    assert seed_keyed(sc, "mipv6", "map1") == []  # no MN-MAP SAs under plain Mobile IPv6
    for other in ("ar1", "ar2", "inet", "cn"):
        assert seed_keyed(sc, "hmipv6", other) == []


def test_configured_sas_drop_out() -> None:
    sc = variant("figure1", ("[nodes.mn]", manual_sas_toml() + "\n[nodes.mn]"))
    for node in ("mn", "map1", "ha"):
        assert seed_keyed(sc, "hmipv6", node) == [], node
        assert key_warning(sc, "hmipv6", node) is None


def test_ike_pre_shared_keys_from_the_seed_and_configured() -> None:
    sc = load("figure1", ("scenario.profile=rfc5380",))
    assert seed_keyed(sc, "hmipv6", "mn") == ["MN-HA SAs mn-ha", "IKEv2 PSK mn-map1"]
    assert seed_keyed(sc, "hmipv6", "map1") == ["IKEv2 PSK mn-map1"]
    sc = load("figure1", ("scenario.profile=rfc5380", PSK))
    assert seed_keyed(sc, "hmipv6", "map1") == []
    assert seed_keyed(sc, "hmipv6", "mn") == ["MN-HA SAs mn-ha"]


def test_the_warning_line() -> None:
    line = key_warning(load("figure1"), "hmipv6", "map1")
    assert line is not None and "\n" not in line
    assert line.startswith("hmipv6 node map1: warning: ") and "MN-MAP SAs mn-map1" in line
    assert "[[sas]]" in line
    none = key_warning(load("figure1", ("defaults.security=none",)), "hmipv6", "mn")
    assert none is not None and 'no protection at all (security = "none")' in none
    assert key_warning(load("figure1"), "hmipv6", "ar1") is None
