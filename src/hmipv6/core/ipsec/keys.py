"""Keys: manually keyed SAs from configuration, and seed-derived SAs for the simulator.

Theory of operation
-------------------
RFC 4140 §12.1 leaves key establishment to IKE; RFC 4301 §4.5 requires that manual keying be
supported. This project uses manual keys (SEC-06) in two forms:

- **Configuration**: per SA, either a mapping
  (:func:`sa_from_config`: ``spi``, ``proto``, ``src``, ``dst``, ``peer``, ``enc``,
  ``enc_key``, ``auth``, ``auth_key``, keys in hex) or the line an ``ip xfrm`` user already
  has (:func:`parse_xfrm_state`, the transport-mode subset of ``ip xfrm state add``). As in
  Linux Mobile IPv6 setups, ``src``/``dst`` are the effective addresses (home address / RCoA,
  not the care-of address). Scenarios take such lines in ``[[sas]]`` (one MN–MAP or MN–HA
  pair each, both worlds), which replace that pair's seed-derived SAs.
- **Provisioning** (simulator and testbed): :class:`Provisioner` derives SPIs and keys with HKDF-SHA-256
  (RFC 5869) from the scenario seed and the two identities, and :meth:`Provisioner.mn_map` /
  :meth:`Provisioner.mn_ha` install the SA pair, the policies and the PAD entries on both
  ends. The same seed gives the same keys, SPIs and therefore the same ESP octets; the
  Wireshark SA export (:mod:`.wireshark`) lets a user open the capture decrypted.

Security is on by default in scenarios; ``NullSecurity`` exists for comparison runs only.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterable, Mapping
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from hmipv6.core.ipsec.sad import IPsecProtocol, SAParams
from hmipv6.core.ipsec.spd import Action, Policy
from hmipv6.errors import LocalProtocolError

if TYPE_CHECKING:
    from hmipv6.core.ipsec import IPsec

__all__ = [
    "MH_SIGNALLING_TYPES",
    "SUITES",
    "Provisioner",
    "Suite",
    "derive_key",
    "parse_xfrm_state",
    "sa_from_config",
]

Suite = tuple[IPsecProtocol, str, int, str, int]
"""(protocol, encryption, encryption key length, integrity, integrity key length)."""

SUITES: Final[dict[str, Suite]] = {
    "esp-null-hmac-sha256": ("esp", "NULL", 0, "HMAC-SHA-256-128", 32),
    "esp-aes-cbc-hmac-sha256": ("esp", "AES-CBC", 16, "HMAC-SHA-256-128", 32),
    "esp-aes-gcm": ("esp", "AES-GCM-16", 20, "NULL", 0),
    "ah-hmac-sha256": ("ah", "NULL", 0, "HMAC-SHA-256-128", 32),
}
"""Named algorithm suites for provisioning; the default is ESP with NULL encryption and
HMAC-SHA-256-128 (RFC 4140 §12: confidentiality "is not required for binding updates")."""

MH_SIGNALLING_TYPES: Final = (0, 5, 6)
"""Binding Refresh Request, Binding Update, Binding Acknowledgement (RFC 6275 §6.1): the MH
types provisioned policies protect. Binding Errors stay unprotected, as in RFC 6275 (a node
must be able to send one to a sender it shares no SA with)."""


_SALT = b"hmipv6 simulated SA"


def derive_key(seed: int | str | bytes, label: str, length: int) -> bytes:
    """``length`` octets of HKDF-SHA-256 output for ``label`` under the scenario ``seed``:
    RFC 5869 §2.3's HKDF-Expand of the pseudorandom key that §2.2's HKDF-Extract makes of
    the seed (salted), which is the same for every label, so it is extracted once per seed
    (:func:`_extracted`; HKDF is Expand after Extract, tests hold it equal to ``HKDF``)."""
    ikm = seed if isinstance(seed, bytes) else str(seed).encode()
    return HKDFExpand(algorithm=hashes.SHA256(), length=length,
                      info=label.encode()).derive(_extracted(ikm))


@functools.lru_cache(maxsize=16)
def _extracted(ikm: bytes) -> bytes:
    """RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM)."""
    h = hmac.HMAC(_SALT, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


# -- configuration ------------------------------------------------------------------------------


def _hex(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what}: expected hex string, got {value!r}")
    s = value[2:] if value.lower().startswith("0x") else value
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise LocalProtocolError(f"{what}: {value!r} is not hex") from None


def _int(value: object, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise LocalProtocolError(f"{what}: {value!r} is not an integer")


def sa_from_config(cfg: Mapping[str, object]) -> SAParams:
    """An SA from a configuration mapping, e.g. a TOML table::

        {spi = "0x1001", proto = "esp", src = "2001:db8:ffff::1", dst = "2001:db8:ffff::/64",
         peer = "mn1", enc = "NULL", auth = "HMAC-SHA-256-128", auth_key = "0x...32 octets"}
    """
    known = {"spi", "proto", "src", "dst", "peer", "enc", "enc_key", "auth", "auth_key",
             "replay_window"}
    extra = set(cfg) - known
    if extra:
        raise LocalProtocolError(f"unknown SA configuration keys {sorted(extra)}")
    proto = cfg.get("proto", "esp")
    if proto not in ("esp", "ah"):
        raise LocalProtocolError(f"proto must be 'esp' or 'ah', not {proto!r}")
    peer = cfg.get("peer")
    src, dst = cfg.get("src"), cfg.get("dst")
    for name, v in (("peer", peer), ("src", src), ("dst", dst)):
        if v is not None and not isinstance(v, str):
            raise LocalProtocolError(f"{name}: expected a string, got {v!r}")
    assert peer is None or isinstance(peer, str)
    assert src is None or isinstance(src, str)
    assert dst is None or isinstance(dst, str)
    return SAParams.make(
        spi=_int(cfg.get("spi"), "spi"), protocol="ah" if proto == "ah" else "esp",
        src=src, dst=dst, peer=peer, enc=str(cfg.get("enc", "NULL")),
        enc_key=_hex(cfg.get("enc_key", ""), "enc_key"),
        auth=str(cfg.get("auth", "HMAC-SHA-256-128")),
        auth_key=_hex(cfg.get("auth_key", ""), "auth_key"),
        replay_window=_int(cfg.get("replay_window", 64), "replay_window"))


_XFRM_ENC = {"cipher_null": "NULL", "ecb(cipher_null)": "NULL", "cbc(aes)": "AES-CBC"}


def parse_xfrm_state(line: str, *, peer: str | None = None) -> SAParams:
    """An SA from an ``ip xfrm state add`` line (transport mode; the algorithms this project
    implements), e.g.::

        ip xfrm state add src 2001:db8:ffff::10 dst 2001:db8:1::1 proto esp spi 0x1001 \\
            mode transport auth-trunc 'hmac(sha256)' 0x<64 hex> 128 enc cipher_null ""
    """
    tok = shlex.split(line.replace("\\\n", " "))
    while tok and tok[0] in ("ip", "xfrm", "state", "add", "update"):
        tok.pop(0)
    fields: dict[str, object] = {"enc": "NULL", "auth": "NULL", "peer": peer}
    i = 0

    def take(n: int) -> list[str]:
        nonlocal i
        if i + n > len(tok):
            raise LocalProtocolError(f"ip xfrm: {tok[i - 1]!r} needs {n} argument(s)")
        out = tok[i:i + n]
        i += n
        return out

    while i < len(tok):
        word = tok[i]
        i += 1
        if word in ("src", "dst"):
            fields[word] = take(1)[0]
        elif word == "proto":
            fields["proto"] = take(1)[0]
        elif word == "spi":
            fields["spi"] = take(1)[0]
        elif word in ("reqid", "flag", "if_id"):
            take(1)
        elif word == "replay-window":
            fields["replay_window"] = take(1)[0]
        elif word == "mode":
            if take(1)[0] != "transport":
                raise LocalProtocolError("ip xfrm: only mode transport is supported")
        elif word == "auth-trunc":
            name, key, bits = take(3)
            if name != "hmac(sha256)" or bits != "128":
                raise LocalProtocolError(f"ip xfrm: unsupported auth-trunc {name} {bits}")
            fields["auth"], fields["auth_key"] = "HMAC-SHA-256-128", key
        elif word == "auth":
            take(2)
            # Linux truncates hmac(sha256) to 96 bits unless auth-trunc says otherwise; RFC 4868
            # says 128. We only speak RFC 4868.
            raise LocalProtocolError("ip xfrm: use auth-trunc 'hmac(sha256)' KEY 128 (RFC 4868)")
        elif word == "enc":
            name, key = take(2)
            if name not in _XFRM_ENC:
                raise LocalProtocolError(f"ip xfrm: unsupported enc {name}")
            fields["enc"], fields["enc_key"] = _XFRM_ENC[name], key
        elif word == "aead":
            name, key, bits = take(3)
            if name != "rfc4106(gcm(aes))" or bits != "128":
                raise LocalProtocolError(f"ip xfrm: unsupported aead {name} {bits}")
            fields["enc"], fields["enc_key"], fields["auth"] = "AES-GCM-16", key, "NULL"
        elif word == "sel":
            break  # selectors after "sel" narrow further; ours are src/dst
        else:
            raise LocalProtocolError(f"ip xfrm: unsupported word {word!r}")
    if fields.get("enc") == "NULL" and fields.get("enc_key") in ("", "0x", None):
        fields.pop("enc_key", None)
    return sa_from_config({k: v for k, v in fields.items() if v is not None})


# -- simulator provisioning ---------------------------------------------------------------------


class Provisioner:
    """Seed-derived SAs per pair of identities, unique SPIs within one scenario."""

    def __init__(self, seed: int | str | bytes, suite: str = "esp-null-hmac-sha256") -> None:
        if suite not in SUITES:
            raise LocalProtocolError(f"unknown suite {suite!r}; known: {sorted(SUITES)}")
        self.seed = seed
        self.suite = suite
        self._spis: set[int] = set()
        self.protocol: IPsecProtocol = SUITES[suite][0]
        self.issued: list[SAParams] = []
        """Every SA this provisioner made (for the Wireshark export of a whole scenario)."""
        self._map_policies: dict[tuple[bool, IPv6Address], Policy] = {}
        """The MN–MAP entries by (MAP side?, MAP address): every mobile node of a MAP gets
        the same entry, so one (immutable) object serves them all."""

    def reserve(self, spis: Iterable[int]) -> None:
        """Keep these SPIs (of manually keyed SAs) out of the ones this provisioner derives."""
        self._spis.update(spis)

    def sa(self, sender: str, receiver: str, *, src: IPv6Address | IPv6Network | str | None,
           dst: IPv6Address | IPv6Network | str | None) -> SAParams:
        """The SA carrying ``sender``'s traffic to ``receiver`` (no ``peer`` set yet)."""
        proto, enc, enc_len, auth, auth_len = SUITES[self.suite]
        label = f"{sender}->{receiver}"
        n = 0
        while True:
            spi = int.from_bytes(derive_key(self.seed, f"spi|{label}|{n}", 4), "big")
            if spi >= 256 and spi not in self._spis:
                break
            n += 1
        self._spis.add(spi)
        params = SAParams.make(
            spi=spi, protocol=proto, src=src, dst=dst, enc=enc,
            enc_key=derive_key(self.seed, f"enc|{label}|{spi}", enc_len) if enc_len else b"",
            auth=auth,
            auth_key=derive_key(self.seed, f"auth|{label}|{spi}", auth_len) if auth_len else b"")
        self.issued.append(params)
        return params

    def pair(self, a: IPsec, a_id: str, a_addr: IPv6Address | IPv6Network | str,
             b: IPsec, b_id: str, b_addr: IPv6Address | IPv6Network | str,
             manual: tuple[SAParams, SAParams] | None = None) -> None:
        """Install the SA pair between ``a`` and ``b``; each SA's ``peer`` on each end is
        the other end's identity. ``manual``: the (a -> b, b -> a) SAs from configuration
        (SEC-06, RFC 4301 §4.5 manual keying) instead of seed-derived ones; they are
        exported like the others."""
        if manual is None:
            ab = self.sa(a_id, b_id, src=a_addr, dst=b_addr)
            ba = self.sa(b_id, a_id, src=b_addr, dst=a_addr)
        else:
            ab, ba = manual
            self.issued += [ab, ba]
        # Each SA's two ends are keyed once (SecurityAssociation.keyed_like).
        a_out = a.add_sa(ab.with_peer(b_id), "out")
        a_in = a.add_sa(ba.with_peer(b_id), "in")
        b.add_sa(ba.with_peer(a_id), "out", a_in)
        b.add_sa(ab.with_peer(a_id), "in", a_out)

    def mn_map(self, mn: IPsec, mn_id: str, map_: IPsec, map_id: str,
               map_address: IPv6Address, rcoa_prefix: IPv6Network,
               manual: tuple[SAParams, SAParams] | None = None) -> None:
        """SEC-01/SEC-03: the MN–MAP SAs, keyed for any RCoA of the MAP's prefix (the MN forms
        its RCoA later), policies protecting BU/BA/BRR, and PAD entries (the MN may speak for
        RCoAs in ``rcoa_prefix``; which one it holds is the MAP's business, via the PAD).
        ``manual``: configured (MN -> MAP, MAP -> MN) SAs instead of seed-derived ones."""
        self.pair(mn, mn_id, rcoa_prefix, map_, map_id, map_address, manual)
        _ensure_policy(mn, self._map_policy(False, map_address))
        _ensure_policy(map_, self._map_policy(True, map_address))
        mn.authorise(map_id, [map_address])
        map_.authorise(mn_id, [rcoa_prefix])

    def _map_policy(self, map_side: bool, map_address: IPv6Address) -> Policy:
        """The MN–MAP SPD entry of the MAP (``map_side``) or of its mobile nodes."""
        key = (map_side, map_address)
        policy = self._map_policies.get(key)
        if policy is None:
            if map_side:
                policy = Policy.make(local=map_address, protocol=135, types=MH_SIGNALLING_TYPES,
                                     ipsec=self.protocol, name="MH MAP-MN")
            else:
                policy = Policy.make(remote=map_address, protocol=135, types=MH_SIGNALLING_TYPES,
                                     ipsec=self.protocol, name="MH MN-MAP")
            policy = self._map_policies[key] = policy
        return policy

    def mn_ha(self, mn: IPsec, mn_id: str, ha: IPsec, ha_id: str, home_address: IPv6Address,
              ha_address: IPv6Address, manual: tuple[SAParams, SAParams] | None = None) -> None:
        """SEC-07 (RFC 6275 §5.1, unchanged by RFC 4140 §12.3): MN–HA SAs keyed for the home
        address, protecting BU/BA. ``manual``: configured (MN -> HA, HA -> MN) SAs instead."""
        self.pair(mn, mn_id, home_address, ha, ha_id, ha_address, manual)
        _ensure_policy(mn, Policy.make(local=home_address, remote=ha_address, protocol=135,
                                       types=MH_SIGNALLING_TYPES, ipsec=self.protocol, name="MH MN-HA"))
        _ensure_policy(ha, Policy.make(local=ha_address, remote=home_address, protocol=135,
                                       types=MH_SIGNALLING_TYPES, ipsec=self.protocol, name="MH HA-MN"))
        mn.authorise(ha_id, [ha_address])
        ha.authorise(mn_id, [home_address])

    def mn_defaults(self, mn: IPsec, home_address: IPv6Address) -> None:
        """The mobile node's last two SPD entries, after every MN–MAP and MN–HA pair's
        (first match wins, RFC 4301 §4.4.1): its signalling with correspondents under its
        home address bypasses IPsec (return routability authorises it, RFC 6275 §5.2), and
        BU/BA/BRR with *any other* node -- a MAP it has no SA with, say one a rogue router
        advertised -- must be protected: without an SA it is never sent, and an unprotected
        BA is dropped (RFC 4140 §12.1; the default for mobility signalling is "protect",
        not "bypass")."""
        _ensure_policy(mn, Policy.make(local=home_address, protocol=135,
                                       action=Action.BYPASS, name="MH MN-CN (return routability)"))
        _ensure_policy(mn, Policy.make(protocol=135, types=MH_SIGNALLING_TYPES, ipsec=None,
                                       name="MH MN-any MAP (protect by default)"))

    def esp_sa_table(self) -> str:
        """Every SA issued so far, in Wireshark's ``esp_sa`` format."""
        from hmipv6.core.ipsec.wireshark import esp_sa_table

        return esp_sa_table(self.issued)


def _ensure_policy(node: IPsec, policy: Policy) -> None:
    if policy not in node.spd:
        node.add_policy(policy)
