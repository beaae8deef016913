"""Lanes: what the octet-level ESP path needs of one inbound SA, in one object.

A MAP with thousands of mobile nodes receives each one's BUs on its own inbound SA and answers
on its own outbound SA. Per packet, the general path walks from the SA to its parameters, its
:class:`~hmipv6.core.ipsec.esp.EspCodec`, the policy memos (keys of addresses), the PAD and
the outbound SA's codec: a dozen small objects per mobile node, which stop fitting in the CPU
caches once a few hundred mobile nodes take turns. A :class:`Lane` holds, flat, what the
request and its answer use: the replay window and keyed HMAC of the inbound SA, the identity
bound to it, the inbound policy decision for the addresses it last carried, and the outbound
SA chosen for the last answer with that SA's constants.

A lane is a memo. :class:`~hmipv6.core.ipsec.IPsec` drops every lane whenever its SPD, its
SAD or a PAD entry changes (as it drops its other memoised decisions), and the lane's
decisions are those the general path computes (:meth:`IPsec._check_inbound
<hmipv6.core.ipsec.IPsec._check_inbound>`, :meth:`IPsec._esp_out
<hmipv6.core.ipsec.IPsec._esp_out>`, the PAD's authorisation), so a lane never decides
differently from the general path; tests feed the same octets to both and compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.hmac import HMAC

from hmipv6.core.ipsec.replay import ReplayWindow

if TYPE_CHECKING:
    from hmipv6.core.ipsec.sad import SecurityAssociation

__all__ = ["Lane"]


class Lane:
    """One inbound ESP SA's constants and memoised decisions (see the module documentation)."""

    __slots__ = ("address", "answer", "answer_block", "answer_icv", "answer_mac", "answer_spi",
                 "answer_trailers", "answer_type", "authorised", "epoch", "held", "icv_len",
                 "inbound", "inbound_type", "local", "mac", "min_len", "peer", "peer_octets",
                 "sa", "window")

    def __init__(self, sa: SecurityAssociation, epoch: int) -> None:
        c = sa.esp
        self.sa = sa
        self.epoch = epoch
        """The memo generation of the node's IPsec the lane belongs to (it is dropped with
        the generation's other decisions)."""
        self.window: ReplayWindow = sa.replay
        self.mac: HMAC | None = c.mac if c.clear else None
        """The keyed HMAC template when the SA's encryption is NULL (RFC 2410): the packet is
        then verified and opened in place. ``None``: other suites, through :mod:`.esp`."""
        self.icv_len = c.icv_len
        self.min_len = c.min_len
        self.peer: str | None = sa.params.peer
        self.peer_octets = self.peer.encode() if self.peer is not None else b""
        """The identity as the binding cache records its holder."""
        self.address = b""
        """The far end's effective address (the RCoA, the home address) the decisions are
        for: the inbound packets' source, the answers' destination."""
        self.local = b""
        """This node's effective address: the inbound packets' destination."""
        self.inbound_type = -1
        """The MH type the inbound decision is for (-1: none yet)."""
        self.inbound = False
        self.answer_type = -1
        """The MH type of the answers :attr:`answer` is for (-1: none yet)."""
        self.answer: SecurityAssociation | None = None
        self.authorised = False
        """The PAD's range check of the answer's destination for :attr:`peer`."""
        self.held = -1
        """The PAD's ``holders_version`` when :attr:`peer` was seen holding the answer's
        destination (-1: not seen)."""
        self.answer_mac: HMAC | None = None
        """The outbound SA's HMAC template when its encryption is NULL, else ``None``."""
        self.answer_spi = b""
        self.answer_icv = 0
        self.answer_block = 4
        self.answer_trailers: tuple[tuple[bytes, ...], ...] = ()

    def set_address(self, address: bytes, local: bytes) -> None:
        """The decisions are now for ``address`` <-> ``local``: forget the others."""
        self.address, self.local = address, local
        self.inbound_type = self.answer_type = -1

    def set_answer(self, message_type: int, out: SecurityAssociation, authorised: bool) -> None:
        """Remember ``out`` (and the PAD's answer) for answers of ``message_type`` from
        :attr:`local` to :attr:`address`."""
        c = out.esp
        self.answer_type, self.answer, self.authorised = message_type, out, authorised
        self.held = -1
        self.answer_mac = c.mac if c.clear else None
        self.answer_spi = c.spi_octets
        self.answer_icv = c.icv_len
        self.answer_block = c.block
        self.answer_trailers = c.trailers
