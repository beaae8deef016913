"""The mobile node's IKEv2 key management: one :class:`~hmipv6.core.ike.exchange.IkeInitiator`
per MAP, obtaining a MAP-allocated RCoA and the MN–MAP Child SA (RFC 5380 §5 R flag and §12.1,
RFC 4877 §9; X5380-02, X5380-05, SEC-06).

Theory of operation
-------------------
A collaborator the :class:`~hmipv6.core.mobile_node.MobileNode` owns (``MobileNode(...,
ike=IkeClient(...))``), sans-IO like the exchange itself: it takes and returns IKE octets and
deadlines, never packets or clocks. The mobile node

- calls :meth:`IkeClient.start` when it selects a MAP whose option has R set under the
  ``rfc5380`` profile, and sends what it returns in UDP 500 → 500 from its LCoA to the MAP
  (:func:`~hmipv6.core.ike.transport.ike_packet`, unprotected: the SPD bypasses IKE);
- hands every UDP port-500 datagram from that MAP to :meth:`IkeClient.receive`, and arms
  :meth:`IkeClient.next_timer` with its own timers, calling :meth:`IkeClient.handle_timer`
  when it expires (only the initiator retransmits, RFC 7296 §2.1);
- after each, asks :meth:`IkeClient.take_renewed` whether the IKE SA made a new Child SA
  in place of one the MAP deleted (the IKE SA stayed, RFC 7296 §1.3.1), and then sends a
  local BU protected with it;
- acts on the outcome both return: :class:`~hmipv6.core.ike.exchange.Established` →
  ``assign_rcoa(now, map, outcome.rcoa)`` (the Child SA is already in the node's
  :class:`~hmipv6.core.ipsec.IPsec`, so the local BU goes out ESP-protected with it);
  :class:`~hmipv6.core.ike.exchange.RcoaRefused` or
  :class:`~hmipv6.core.ike.exchange.Failed` → ``rcoa_refused(now, map)`` (MN-23: ask again,
  at most ``max_rcoa_attempts`` times, then give the MAP up for this LCoA).

Credentials: one pre-shared key per MAP address (the MN only knows MAPs by the address in
their option), the MN's identity as IDi (its PAD name at the MAP), optionally the MAP's
expected IDr. A MAP without a PSK is not attempted (:meth:`IkeClient.knows`).

Re-running an exchange with a MAP (the region was dropped, or a refusal) replaces the
initiator; when a new Child SA is established, the outbound SA of the previous one is removed
from the SAD so the new keys are used (the previous inbound SA stays: the MAP may still send
with it, since this responder keeps no IKE SA to delete it with, see ``exchange``).

Wireshark: :meth:`IkeClient.esp_sa_table` gives the negotiated Child SAs as ``esp_sa`` lines,
:meth:`IkeClient.ikev2_decryption_table` the IKE SAs as ``ikev2_decryption_table`` lines (the
simulator writes them with ``--export-sa FILE`` to FILE and FILE.ikev2).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from ipaddress import IPv6Address
from typing import TYPE_CHECKING

from hmipv6.core.ike.crypto import IkeKeys
from hmipv6.core.ike.exchange import Established, IkeInitiator, Outcome
from hmipv6.core.ike.sa import NO_POLICY, ChildSA, SaPolicy

if TYPE_CHECKING:
    from hmipv6.core.ike.certs import Credentials
    from hmipv6.core.ipsec import IPsec

__all__ = ["IKEV2_WIRESHARK_ENCR", "IKEV2_WIRESHARK_INTEG", "IkeClient", "ikev2_decryption_line"]

IKEV2_WIRESHARK_ENCR = "AES-CBC-128 [RFC3602]"
IKEV2_WIRESHARK_INTEG = "HMAC_SHA2_256_128 [RFC4868]"
"""Wireshark's names (``packet-isakmp.c``) for the IKE SA's algorithms."""


class IkeClient:
    """IKEv2 initiators of one mobile node, by MAP address (module docstring)."""

    def __init__(self, ipsec: IPsec, *, identity: str | IPv6Address,
                 psks: Mapping[IPv6Address, bytes], rng: random.Random,
                 map_identities: Mapping[IPv6Address, str] | None = None,
                 suites: Sequence[str] = ("esp-null-hmac-sha256",), dh_group: int = 19,
                 policy: SaPolicy = NO_POLICY, credentials: Credentials | None = None) -> None:
        self.ipsec = ipsec
        self.identity = identity
        self.psks = {IPv6Address(a): k for a, k in psks.items()}
        self.map_identities = {IPv6Address(a): n for a, n in (map_identities or {}).items()}
        self.rng = rng
        self.suites = tuple(suites)
        self.dh_group = dh_group
        self.policy = policy
        self.credentials = credentials
        """Certificate authentication instead of the PSKs (:mod:`.certs`)."""
        """Periodic rekeys and liveness checks of each established IKE SA."""
        self.initiators: dict[IPv6Address, IkeInitiator] = {}
        """The latest exchange per MAP (finished ones are kept for inspection)."""
        self.established: dict[IPv6Address, Established] = {}
        """The latest Child SA per MAP."""
        self.history: list[tuple[IPv6Address, IkeInitiator]] = []
        """Every finished exchange, in order (for tests and the Wireshark exports)."""

    def knows(self, map_address: IPv6Address) -> bool:
        """Whether a PSK is configured for ``map_address`` (or a certificate for any MAP)."""
        return map_address in self.psks or self.credentials is not None

    def lost(self, map_address: IPv6Address) -> bool:
        """The exchange with ``map_address`` had established SAs and none is left (the MAP
        deleted the IKE SA, or stopped answering liveness checks, RFC 7296 §1.4, §2.4)."""
        ini = self.initiators.get(map_address)
        return (ini is not None and isinstance(ini.outcome, Established) and not ini.ike_sas
                and bool(ini.all_sas))

    def active(self, map_address: IPv6Address) -> bool:
        """An exchange with ``map_address`` is under way."""
        ini = self.initiators.get(map_address)
        return ini is not None and ini.outcome is None

    def take_renewed(self, map_address: IPv6Address) -> ChildSA | None:
        """The Child SA created on the IKE SA with ``map_address`` after the MAP deleted the
        previous one (:meth:`~hmipv6.core.ike.sa.IkeSa.create_child`), once: it becomes
        :attr:`established`'s Child SA, and the node re-registers with it."""
        ini = self.initiators.get(map_address)
        if ini is None:
            return None
        new: ChildSA | None = None
        for sa in ini.ike_sas.values():
            if sa.created_children:
                new = sa.created_children[-1]
                sa.created_children.clear()
        est = self.established.get(map_address)
        if new is not None and est is not None:
            self.established[map_address] = replace(est, child=new)
        return new

    def start(self, now: float, map_address: IPv6Address) -> list[bytes]:
        """Begin a new exchange with ``map_address`` asking it for an RCoA (CP CFG_REQUEST);
        returns the IKE_SA_INIT request."""
        ini = IkeInitiator(self.ipsec, identity=self.identity, psk=self.psks.get(map_address, b""),
                           map_address=map_address, rcoa=None, rng=self.rng,
                           dh_group=self.dh_group, suites=self.suites,
                           map_identity=self.map_identities.get(map_address), policy=self.policy,
                           credentials=self.credentials)
        self.initiators[map_address] = ini
        return [ini.start(now)]

    def next_timer(self, map_address: IPv6Address) -> float | None:
        ini = self.initiators.get(map_address)
        return ini.next_timer() if ini is not None else None

    def handle_timer(self, now: float, map_address: IPv6Address
                     ) -> tuple[list[bytes], Outcome | None]:
        """Retransmit (or time out) the exchange with ``map_address``."""
        ini = self.initiators.get(map_address)
        if ini is None:
            return [], None
        if ini.outcome is not None:
            return ini.handle_timer(now), None  # the IKE SA's own requests, rekeys, DPD
        out = ini.handle_timer(now)
        return out, self._finished(map_address, ini)

    def receive(self, now: float, map_address: IPv6Address, data: bytes
                ) -> tuple[list[bytes], Outcome | None]:
        """An IKE message from ``map_address``: the next request (if any) and the outcome
        when this message finished the exchange."""
        ini = self.initiators.get(map_address)
        if ini is None:
            return [], None
        if ini.outcome is not None:
            # A message for an established IKE SA (DPD, Delete, rekeys), maybe an older one.
            for _, old in ((map_address, ini), *reversed(self.history)):
                if old.map_address == map_address and old.ike_sas:
                    out = old.receive(now, data)
                    if out or old.counters["unexpected"] == 0:
                        return out, None
            return [], None
        out = ini.receive(now, data)
        return out, self._finished(map_address, ini)

    def _finished(self, map_address: IPv6Address, ini: IkeInitiator) -> Outcome | None:
        outcome = ini.outcome
        if outcome is None:
            return None
        self.history.append((map_address, ini))
        if isinstance(outcome, Established):
            old = self.established.get(map_address)
            if old is not None and old.child.outbound.spi != outcome.child.outbound.spi:
                for sa in list(self.ipsec.sad):
                    if sa.direction == "out" and sa.params == old.child.outbound:
                        self.ipsec.sad.remove(sa)
            self.established[map_address] = outcome
        return outcome

    # -- Wireshark ---------------------------------------------------------------------------

    def esp_sa_table(self) -> str:
        """The negotiated Child SAs (both directions) in Wireshark's ``esp_sa`` format."""
        from hmipv6.core.ipsec.wireshark import esp_sa_table

        return esp_sa_table(sa for _, ini in self.history if isinstance(ini.outcome, Established)
                            for sa in (ini.outcome.child.outbound, ini.outcome.child.inbound))

    def ikev2_decryption_table(self) -> str:
        """Wireshark's ``ikev2_decryption_table`` UAT, one line per IKE SA this node
        authenticated (so its IKE_AUTH SK payloads, and the CP reply with the RCoA, open)."""
        lines: list[str] = []
        for _, ini in self.history:
            if ini.all_sas:  # the IKE SA and every IKE SA that replaced it (rekeys)
                lines += ini.ikev2_decryption_lines()
            elif ini.keys is not None:
                lines.append(ikev2_decryption_line(ini.spi_i, ini.spi_r, ini.keys))
        return "".join(line + "\n" for line in lines)


def ikev2_decryption_line(spi_i: int, spi_r: int, keys: IkeKeys,
                          encr: str = IKEV2_WIRESHARK_ENCR) -> str:
    """One ``ikev2_decryption_table`` record (without the newline) for this project's IKE SA
    suite (ENCR_AES_CBC-128, AUTH_HMAC_SHA2_256_128): SPIi, SPIr, SK_ei, SK_er, encryption,
    SK_ai, SK_ar, integrity. Octet fields are bare hex, names quoted, as Wireshark's UAT
    files write them (tshark rejects quoted hex there)."""
    return ",".join((f"{spi_i:016x}", f"{spi_r:016x}", keys.sk_ei.hex(), keys.sk_er.hex(),
                     f'"{encr}"', keys.sk_ai.hex(), keys.sk_ar.hex(),
                     f'"{IKEV2_WIRESHARK_INTEG}"'))
