"""Return routability (RFC 6275 §5.2): the keys, tokens and authenticators, for both ends.

Theory of operation
-------------------
A correspondent node keeps a secret Kcn and a nonce per *generation*; a generation is named
by its nonce index. Every ``NONCE_INTERVAL`` (30 s) a new generation starts (RFC 6275 §5.2.7:
"a convenient way to enforce the above lifetimes is to generate a new nonce every 30
seconds"; Kcn is renewed with it: "An update of Kcn SHOULD be done at the same time as an
update of a nonce"). A generation stays usable for ``MAX_NONCE_LIFETIME`` (240 s) after it
started being handed out: "the correspondent node MUST NOT accept nonces beyond
MAX_NONCE_LIFETIME seconds ... after the first use". :class:`NonceTable` is that state.

The functions are the same for the correspondent node and the mobile node (RFC 6275 §5.2.5,
§6.2.7)::

    home keygen token    = First(64, HMAC_SHA1(Kcn, home address | nonce | 0))
    care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1))
    Kbm                  = SHA1(home keygen token | care-of keygen token)
                           (deregistration: SHA1(home keygen token))
    Authenticator        = First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data))

where MH Data is the Mobility Header with its Checksum zero and without the Authenticator
itself; the Binding Authorization Data option "MUST be the last option and MUST NOT have
trailing padding" (§9.5.1), so MH Data is the encoded header minus its last 12 octets.
:func:`authorize` adds the option to a Binding Update (mobile node) or Binding
Acknowledgement (correspondent node); :func:`verify` checks one.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from ipaddress import IPv6Address
from typing import overload

from hmipv6.wire.mobility import (
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingUpdate,
    MobilityOption,
)

__all__ = [
    "AUTHENTICATOR_LEN",
    "KCN_LEN",
    "MAX_NONCE_LIFETIME",
    "MAX_RR_BINDING_LIFETIME",
    "MAX_TOKEN_LIFETIME",
    "NONCE_INTERVAL",
    "NONCE_LEN",
    "NonceTable",
    "authenticator",
    "authorize",
    "binding_management_key",
    "care_of_keygen_token",
    "home_keygen_token",
    "mh_data",
    "verify",
]

# RFC 6275 §12 (Protocol Constants).
MAX_NONCE_LIFETIME = 240
MAX_TOKEN_LIFETIME = 210
MAX_RR_BINDING_LIFETIME = 420
NONCE_INTERVAL = 30
KCN_LEN = 20
"""RFC 6275 §5.2.3: "Kcn ... 20 octets"."""
NONCE_LEN = 8
"""RFC 6275 §5.2.2 leaves the nonce size to the implementation; 64 bits as in common use."""
AUTHENTICATOR_LEN = 12
_ZERO16 = bytes(16)


def _token(kcn: bytes, address: IPv6Address, nonce: bytes, which: int) -> bytes:
    return hmac.new(kcn, address.packed + nonce + bytes((which,)), hashlib.sha1).digest()[:8]


def home_keygen_token(kcn: bytes, home_address: IPv6Address, nonce: bytes) -> bytes:
    """RFC 6275 §5.2.5: First (64, HMAC_SHA1 (Kcn, (home address | nonce | 0)))."""
    return _token(kcn, home_address, nonce, 0)


def care_of_keygen_token(kcn: bytes, care_of_address: IPv6Address, nonce: bytes) -> bytes:
    """RFC 6275 §5.2.5: First (64, HMAC_SHA1 (Kcn, (care-of address | nonce | 1)))."""
    return _token(kcn, care_of_address, nonce, 1)


def binding_management_key(home_token: bytes, care_of_token: bytes | None) -> bytes:
    """RFC 6275 §5.2.5: Kbm = SHA1 (home keygen token | care-of keygen token); for a request
    to delete a binding (``care_of_token`` None), "Kbm = SHA1(home keygen token)"."""
    return hashlib.sha1(home_token + (care_of_token or b"")).digest()


def authenticator(kbm: bytes, care_of_address: IPv6Address, correspondent: IPv6Address,
                  data: bytes) -> bytes:
    """RFC 6275 §6.2.7: First (96, HMAC_SHA1 (Kbm, (care-of address | correspondent | MH
    Data)))."""
    msg = care_of_address.packed + correspondent.packed + data
    return hmac.new(kbm, msg, hashlib.sha1).digest()[:AUTHENTICATOR_LEN]


def mh_data(message: BindingUpdate | BindingAcknowledgement) -> bytes | None:
    """MH Data for the authenticator: the encoded Mobility Header with the Checksum zero and
    without the trailing Authenticator. None when the message does not end with a Binding
    Authorization Data option that ends the header exactly (RFC 6275 §9.5.1: "MUST be the
    last option and MUST NOT have trailing padding")."""
    if not message.options or not isinstance(message.options[-1], BindingAuthorizationData):
        return None
    auth = message.options[-1].authenticator
    # The checksum is zeroed below, so the pseudo-header addresses do not matter.
    raw = message.encode_payload(_ZERO16, _ZERO16)
    if not raw.endswith(bytes((5, len(auth))) + auth):
        return None
    return raw[:4] + b"\x00\x00" + raw[6 : len(raw) - len(auth)]


def _with_options(message: BindingUpdate | BindingAcknowledgement,
                  options: tuple[MobilityOption, ...]) -> BindingUpdate | BindingAcknowledgement:
    if isinstance(message, BindingUpdate):
        return BindingUpdate(message.sequence, message.flags, message.lifetime, options,
                             message.payload_proto, message.header_reserved)
    return BindingAcknowledgement(message.status, message.flags, message.sequence,
                                  message.lifetime, options, message.payload_proto,
                                  message.header_reserved)


@overload
def authorize(kbm: bytes, care_of_address: IPv6Address, correspondent: IPv6Address,
              message: BindingUpdate) -> BindingUpdate: ...


@overload
def authorize(kbm: bytes, care_of_address: IPv6Address, correspondent: IPv6Address,
              message: BindingAcknowledgement) -> BindingAcknowledgement: ...


def authorize(kbm: bytes, care_of_address: IPv6Address, correspondent: IPv6Address,
              message: BindingUpdate | BindingAcknowledgement
              ) -> BindingUpdate | BindingAcknowledgement:
    """``message`` with a Binding Authorization Data option appended as its last option
    (replacing one already there), carrying the authenticator over the result."""
    options: tuple[MobilityOption, ...] = tuple(
        o for o in message.options if not isinstance(o, BindingAuthorizationData))
    placeholder = _with_options(message, (*options, BindingAuthorizationData(bytes(12))))
    data = mh_data(placeholder)
    if data is None:  # the encoder always puts an 8n+2 option last without trailing padding
        raise AssertionError("Binding Authorization Data did not end the Mobility Header")
    mac = authenticator(kbm, care_of_address, correspondent, data)
    return _with_options(message, (*options, BindingAuthorizationData(mac)))


def verify(kbm: bytes, care_of_address: IPv6Address, correspondent: IPv6Address,
           message: BindingUpdate | BindingAcknowledgement) -> bool:
    """Does ``message`` carry a valid authenticator (constant-time comparison)?"""
    data = mh_data(message)
    if data is None:
        return False
    opts: tuple[MobilityOption, ...] = message.options
    last = opts[-1]
    assert isinstance(last, BindingAuthorizationData)
    expected = authenticator(kbm, care_of_address, correspondent, data)
    return hmac.compare_digest(expected, last.authenticator)


class NonceTable:
    """The correspondent node's generations of (Kcn, nonce), named by nonce index."""

    __slots__ = ("_generations", "_index", "_rng", "started")

    def __init__(self, rng: random.Random, now: float) -> None:
        self._rng = rng
        self._generations: dict[int, tuple[float, bytes, bytes]] = {}
        self._index = rng.randrange(0x10000)
        self.started = now
        self._new(now)

    def _new(self, now: float) -> None:
        self._index = (self._index + 1) & 0xFFFF
        kcn = self._rng.randbytes(KCN_LEN)
        nonce = self._rng.randbytes(NONCE_LEN)
        self._generations[self._index] = (now, kcn, nonce)
        self.started = now

    @property
    def next_rotation(self) -> float:
        return self.started + NONCE_INTERVAL

    def rotate(self, now: float) -> None:
        """Start a new generation; forget those older than MAX_NONCE_LIFETIME."""
        self._new(now)
        for index, (born, _, _) in list(self._generations.items()):
            if now - born >= MAX_NONCE_LIFETIME:
                del self._generations[index]

    def current(self) -> tuple[int, bytes, bytes]:
        """(nonce index, Kcn, nonce) to hand out now."""
        _, kcn, nonce = self._generations[self._index]
        return self._index, kcn, nonce

    def lookup(self, index: int, now: float) -> tuple[bytes, bytes] | None:
        """(Kcn, nonce) of a generation still acceptable at ``now``, or None."""
        g = self._generations.get(index)
        # RFC 6275 §5.2.7: "MUST NOT accept nonces beyond MAX_NONCE_LIFETIME seconds ...
        # after the first use".
        if g is None or now - g[0] > MAX_NONCE_LIFETIME:
            return None
        return g[1], g[2]

    def home_token(self, home_address: IPv6Address) -> tuple[int, bytes]:
        index, kcn, nonce = self.current()
        return index, home_keygen_token(kcn, home_address, nonce)

    def care_of_token(self, care_of_address: IPv6Address) -> tuple[int, bytes]:
        index, kcn, nonce = self.current()
        return index, care_of_keygen_token(kcn, care_of_address, nonce)
