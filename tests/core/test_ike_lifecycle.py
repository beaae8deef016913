"""core.ike after IKE_AUTH, hmipv6 against hmipv6: proposal selection (RFC 7296 §2.7), traffic
selector narrowing (§2.9), transport mode (§1.3.1), INFORMATIONAL (§1.4: Delete, liveness),
CREATE_CHILD_SA rekeying of the Child SA and of the IKE SA in both roles (§1.3, §2.8),
simultaneous rekeying (§2.8.1, §2.8.2) and cookies (§2.6; issue 9 item 7). The same engines
are checked against strongSwan in tests/net/test_strongswan.py.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address

import pytest

from hmipv6.core.ike import Established, Failed, IkeInitiator, IkeResponder, NotifyType
from hmipv6.core.ike import crypto as cr
from hmipv6.core.ike.message import (
    ConfigAttribute,
    Configuration,
    Delete,
    ExchangeType,
    Flags,
    KeyExchange,
    Message,
    Nonce,
    Notify,
    Proposal,
    ProtocolId,
    SecurityAssociationPayload,
    TrafficSelector,
    TrafficSelectors,
    Transform,
    TransformType,
    decode,
)
from hmipv6.core.ike.proposals import select_esp, select_ike
from hmipv6.core.ike.sa import IkeSa
from hmipv6.core.ike.transport import run_exchange
from hmipv6.core.ipsec import IPsec
from tests.core.ipsec_support import LCOA_A, MAP, RCOA_A, RCOA_PREFIX
from tests.core.test_ike import initiator, map_engine, responder, send_bu

T = TransformType


def strongswan_default_ike() -> tuple[Proposal, ...]:
    """strongSwan 5.9's default IKE proposals (an AEAD one, then a non-AEAD one), as its
    IKE_SA_INIT carries them (the order of ``proposal_create_default``)."""
    aead = Proposal(1, ProtocolId.IKE, b"", (
        Transform(T.ENCR, 20, 128), Transform(T.ENCR, 20, 192), Transform(T.ENCR, 20, 256),
        Transform(T.ENCR, 28), Transform(T.PRF, 5), Transform(T.PRF, 6), Transform(T.PRF, 7),
        Transform(T.DH, 31), Transform(T.DH, 19), Transform(T.DH, 20), Transform(T.DH, 21),
        Transform(T.DH, 15), Transform(T.DH, 16), Transform(T.DH, 14)))
    plain = Proposal(2, ProtocolId.IKE, b"", (
        Transform(T.ENCR, 12, 128), Transform(T.ENCR, 12, 192), Transform(T.ENCR, 12, 256),
        Transform(T.INTEG, 12), Transform(T.INTEG, 13), Transform(T.INTEG, 14),
        Transform(T.INTEG, 2), Transform(T.PRF, 5), Transform(T.PRF, 6), Transform(T.PRF, 7),
        Transform(T.PRF, 2), Transform(T.DH, 31), Transform(T.DH, 19), Transform(T.DH, 20),
        Transform(T.DH, 21), Transform(T.DH, 15), Transform(T.DH, 16), Transform(T.DH, 14)))
    return aead, plain


def strongswan_default_esp(spi: bytes) -> tuple[Proposal, ...]:
    return (Proposal(1, ProtocolId.ESP, spi, (
                Transform(T.ENCR, 20, 128), Transform(T.ENCR, 20, 192), Transform(T.ENCR, 20, 256),
                Transform(T.ENCR, 28), Transform(T.ESN, 0))),
            Proposal(2, ProtocolId.ESP, spi, (
                Transform(T.ENCR, 12, 128), Transform(T.ENCR, 12, 192), Transform(T.ENCR, 12, 256),
                Transform(T.INTEG, 12), Transform(T.INTEG, 13), Transform(T.INTEG, 14),
                Transform(T.INTEG, 2), Transform(T.ESN, 0))))


# -- proposal selection -------------------------------------------------------------------------


def test_responder_picks_one_transform_of_each_type_from_strongswans_defaults() -> None:
    picked = select_ike(strongswan_default_ike(), (19, 14))
    assert picked is not None
    chosen, suite = picked
    # The AEAD proposal has nothing we support; the second gives AES-CBC-128, SHA-256, 19.
    assert chosen.number == 2 and suite.group == 19 and suite.enc_len == 16
    assert [(t.type, t.id, t.key_length) for t in chosen.transforms] == [
        (T.ENCR, 12, 128), (T.PRF, 5, None), (T.INTEG, 12, None), (T.DH, 19, None)]
    spi = (0x1234).to_bytes(4, "big")
    esp = select_esp(strongswan_default_esp(spi), ("esp-null-hmac-sha256", "esp-aes-gcm"))
    assert esp is not None and esp[1] == "esp-aes-gcm" and esp[0].number == 1
    assert [(t.type, t.id) for t in esp[0].transforms] == [(T.ENCR, 20), (T.ESN, 0)]
    esp = select_esp(strongswan_default_esp(spi), ("esp-aes-cbc-hmac-sha256",))
    assert esp is not None and esp[0].number == 2
    assert [(t.type, t.id, t.key_length) for t in esp[0].transforms] == [
        (T.ENCR, 12, 128), (T.INTEG, 12, None), (T.ESN, 0, None)]
    assert select_esp(strongswan_default_esp(spi), ("esp-null-hmac-sha256",)) is None
    assert select_ike(strongswan_default_ike()[:1], (19, 14)) is None


def test_ike_sa_init_with_strongswans_default_proposals_is_answered() -> None:
    res = responder(IPsec(name="map"))
    dh = cr.DiffieHellman(19, random.Random(5))
    req = Message(7, 0, ExchangeType.IKE_SA_INIT, Flags.INITIATOR, 0, (
        SecurityAssociationPayload(strongswan_default_ike()), KeyExchange(19, dh.public),
        Nonce(bytes(32)))).encode()
    (resp,) = res.receive(0.0, req)
    sa = decode(resp).find(SecurityAssociationPayload)
    assert len(sa) == 1 and isinstance(sa[0], SecurityAssociationPayload)
    assert len(sa[0].proposals) == 1 and sa[0].proposals[0].number == 2


# -- traffic selectors and mode ----------------------------------------------------------------


class _Tamper(IkeInitiator):
    """An initiator whose IKE_AUTH request gets extra TSi selectors / loses transport mode."""

    extra_tsi: tuple[TrafficSelector, ...] = ()
    only_v4 = False

    def _on_sa_init(self, now, msg, data):  # type: ignore[no-untyped-def]
        import hmipv6.core.ike.exchange as ex

        real = ex.TrafficSelectors

        def patched(sels, responder=False):  # type: ignore[no-untyped-def]
            if not responder:
                sels = self.extra_tsi if self.only_v4 else (*self.extra_tsi, *sels)
            return real(sels, responder)

        ex.TrafficSelectors = patched  # type: ignore[misc,assignment]
        try:
            return super()._on_sa_init(now, msg, data)
        finally:
            ex.TrafficSelectors = real  # type: ignore[misc]


V4_ANY = TrafficSelector(IPv4Address("0.0.0.0"), IPv4Address("255.255.255.255"))


def test_ipv4_selector_in_tsi_is_narrowed_away_not_malformed() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini = _Tamper(mn, identity="mn-a", psk=b"psk of mn-a", map_address=MAP, rcoa=None,
                  rng=random.Random(1))
    ini.extra_tsi = (V4_ANY,)
    res = responder(mp)
    out = run_exchange(ini, res, lcoa=LCOA_A)
    assert isinstance(out, Established), out
    assert res.counters["malformed"] == 0
    # Only IPv4 in TSi: authenticated, Child SA refused with TS_UNACCEPTABLE (§2.9).
    mn2 = IPsec(name="mn-b")
    ini2 = _Tamper(mn2, identity="mn-b", psk=b"psk of mn-b", map_address=MAP, rcoa=None,
                   rng=random.Random(2))
    ini2.extra_tsi, ini2.only_v4 = (V4_ANY,), True
    out2 = run_exchange(ini2, res, lcoa=LCOA_A)
    assert out2.__class__.__name__ == "RcoaRefused" and out2.notify == NotifyType.TS_UNACCEPTABLE
    assert res.counters["malformed"] == 0


class _TunnelMap(IkeResponder):
    """A responder that creates tunnel-mode Child SAs: it never sends USE_TRANSPORT_MODE."""

    def _child(self, st, peer, inner):  # type: ignore[no-untyped-def]
        payloads, outcome, child = super()._child(st, peer, inner)
        return (tuple(p for p in payloads if not (isinstance(p, Notify) and p.type
                                                  == NotifyType.USE_TRANSPORT_MODE)),
                outcome, child)


def pump(a: IkeInitiator | IkeResponder, b: IkeInitiator | IkeResponder, out_a: list[bytes],
         now: float = 0.0) -> int:
    """Deliver ``out_a`` (from ``a``) to ``b`` and the answers back, until quiet; returns the
    number of messages delivered."""
    n = 0
    queue: list[tuple[IkeInitiator | IkeResponder, bytes]] = [(b, m) for m in out_a]
    while queue:
        dst, data = queue.pop(0)
        n += 1
        src = a if dst is b else b
        queue += [(src, m) for m in dst.receive(now, data)]
    return n


@pytest.mark.req("X5380-05", "SEC-01")
def test_tunnel_mode_only_responder_is_refused_and_its_child_sa_deleted() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini = initiator(mn)
    res = _TunnelMap(mp, identity="map", address=MAP, rcoa_prefix=RCOA_PREFIX,
                     psks={"mn-a": b"psk of mn-a"}, rng=random.Random(3))
    pending = [ini.start(0.0)]
    while pending and ini.outcome is None:
        pending = [r for m in pending for r in res.receive(0.0, m)]
        pending = [r for m in pending for r in ini.receive(0.0, m)]
    assert ini.outcome == Failed("tunnel-mode", peer="map")
    # The initiator's INFORMATIONAL Delete went out: the MAP answers and removes its SAs too.
    assert pending and decode(pending[0]).exchange == ExchangeType.INFORMATIONAL
    pump(ini, res, pending)
    assert len(mn.sad) == 0 and len(mp.sad) == 0
    (sa,) = res.ike_sas.values()
    assert sa.counters["child-delete-answered"] == 1


# -- INFORMATIONAL and CREATE_CHILD_SA ------------------------------------------------------------


def established(seed: int = 1) -> tuple[IPsec, IPsec, IkeInitiator, IkeResponder, IkeSa, IkeSa]:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini, res = initiator(mn, seed=seed, suites=("esp-aes-gcm",)), responder(mp)
    assert isinstance(run_exchange(ini, res, lcoa=LCOA_A), Established)
    (a,) = ini.ike_sas.values()
    (b,) = res.ike_sas.values()
    return mn, mp, ini, res, a, b


def test_dpd_answered_in_both_directions() -> None:
    _, _, ini, res, a, b = established()
    assert pump(ini, res, a.dpd(1.0)) == 2
    assert pump(res, ini, b.dpd(2.0)) == 2
    assert ("dpd-ok", None) in a.events and ("dpd-ok", None) in b.events
    assert b.counters["dpd-answered"] == 1 and a.counters["dpd-answered"] == 1


@pytest.mark.parametrize("who", ["mn", "map"])
def test_delete_child_then_ike_sa_from_either_end(who: str) -> None:
    mn, mp, ini, res, a, b = established()
    x, y, sx = (ini, res, a) if who == "mn" else (res, ini, b)
    old = a.child
    pump(x, y, sx.delete_child(1.0))
    if who == "mn":
        assert len(mn.sad) == 0 and len(mp.sad) == 0
    else:
        # The MAP deleted the MN's only Child SA and kept the IKE SA: the MN asks for a new
        # one on it (CREATE_CHILD_SA without REKEY_SA, RFC 7296 §1.3.1), same selectors.
        assert a.counters["child-renewal"] == 1 and a.counters["child-created"] == 1
        assert b.counters["child-create-answered"] == 1
        assert a.child is not None and b.child is not None and a.child != old
        assert a.created_children == [a.child] and ("child-created", b.child) in b.events
        assert a.child.inbound.spi == b.child.outbound.spi
        assert a.child.outbound.enc_key == b.child.inbound.enc_key
        assert len(mn.sad) == 2 and len(mp.sad) == 2
        ba = send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1)
        assert ba is not None and ba.status == 0
    pump(x, y, sx.delete(2.0))
    assert not ini.ike_sas and not res.ike_sas and len(mn.sad) == 0 and len(mp.sad) == 0


def test_new_child_sa_refused_closes_the_ike_sa() -> None:
    """A MAP that deletes the Child SA and refuses a new one (here: another Child SA still
    exists at the MAP, NO_ADDITIONAL_SAS): the MN closes the IKE SA, so it runs IKEv2
    again (it does when no SA with its MAP is left)."""
    mn, mp, ini, res, a, b = established()
    assert a.child is not None
    # A Delete of the Child SA sealed with the MAP's keys, but the MAP keeps its Child SA: so
    # the MN's request meets a MAP that still has one.
    assert b.child is not None
    req = b._seal(ExchangeType.INFORMATIONAL, b._next_mid, False,
                  (Delete(ProtocolId.ESP, (b.child.inbound.spi.to_bytes(4, "big"),)),))
    b._next_mid += 1
    out = ini.receive(1.0, req)
    assert len(out) == 2  # the answer, then CREATE_CHILD_SA
    (create,) = out[1:]
    (refusal,) = res.receive(1.0, create)
    pump(res, ini, [refusal], 1.0)
    assert ("failed", f"create-child: notify {NotifyType.NO_ADDITIONAL_SAS}") in a.events
    assert a.state == "deleted" and not ini.ike_sas and not res.ike_sas
    assert len(mn.sad) == 0 and len(mp.sad) == 0


@pytest.mark.req("X5380-05", "SEC-06")
@pytest.mark.parametrize("who", ["mn", "map"])
def test_child_sa_rekey_from_either_end_then_the_bu_uses_the_new_sa(who: str) -> None:
    mn, mp, ini, res, a, b = established()
    old = a.child
    x, y, sx = (ini, res, a) if who == "mn" else (res, ini, b)
    pump(x, y, sx.rekey_child(1.0))
    assert a.child is not None and old is not None and a.child != old
    assert len(a.children.items) == len(b.children.items) == 1
    assert a.child.outbound.enc_key == b.child.inbound.enc_key  # type: ignore[union-attr]
    assert a.child.inbound.spi == b.child.outbound.spi  # type: ignore[union-attr]
    assert len(mn.sad) == 2 and len(mp.sad) == 2  # the old pair is gone on both ends
    ba = send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1)
    assert ba is not None and ba.status == 0


@pytest.mark.req("X5380-05", "SEC-06")
@pytest.mark.parametrize("who", ["mn", "map"])
def test_ike_sa_rekey_from_either_end_moves_the_child_sa(who: str) -> None:
    mn, mp, ini, res, a, b = established()
    x, y, sx = (ini, res, a) if who == "mn" else (res, ini, b)
    pump(x, y, sx.rekey_ike(1.0))
    assert len(ini.ike_sas) == len(res.ike_sas) == 1
    (a2,) = ini.ike_sas.values()
    (b2,) = res.ike_sas.values()
    assert (a2.spi_i, a2.spi_r) == (b2.spi_i, b2.spi_r) != (a.spi_i, a.spi_r)
    assert a2.keys == b2.keys and a2.keys.sk_d != a.keys.sk_d
    assert a2.child == a.child and a2.owns_children() and b2.owns_children()
    # The new IKE SA works: a Child SA rekey and a DPD on it.
    pump(x, y, (a2 if who == "mn" else b2).rekey_child(2.0))
    pump(ini, res, a2.dpd(3.0))
    assert len(mn.sad) == 2 and len(mp.sad) == 2
    assert send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1) is not None


def cross(ini: IkeInitiator, res: IkeResponder, ra: list[bytes], rb: list[bytes]) -> None:
    """Both requests cross on the wire, then every answer is delivered."""
    (qa,), (qb,) = ra, rb
    from_res = res.receive(1.0, qa)
    from_ini = ini.receive(1.0, qb)
    pump(res, ini, from_res)
    pump(ini, res, from_ini)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_simultaneous_child_sa_rekey_leaves_one_pair(seed: int) -> None:
    mn, mp, ini, res, a, b = established(seed)
    cross(ini, res, a.rekey_child(1.0), b.rekey_child(1.0))
    assert a.counters["simultaneous-rekey"] == 1 and b.counters["simultaneous-rekey"] == 1
    assert len(a.children.items) == len(b.children.items) == 1
    assert a.child is not None and b.child is not None
    assert a.child.inbound.spi == b.child.outbound.spi
    assert a.child.outbound.auth_key == b.child.inbound.auth_key
    assert len(mn.sad) == 2 and len(mp.sad) == 2
    assert send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1) is not None


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_simultaneous_ike_sa_rekey_leaves_one_ike_sa(seed: int) -> None:
    mn, mp, ini, res, a, b = established(seed)
    cross(ini, res, a.rekey_ike(1.0), b.rekey_ike(1.0))
    assert len(ini.ike_sas) == len(res.ike_sas) == 1
    (a2,) = ini.ike_sas.values()
    (b2,) = res.ike_sas.values()
    assert (a2.spi_i, a2.spi_r) == (b2.spi_i, b2.spi_r) and a2.keys == b2.keys
    assert a2.owns_children() and b2.owns_children() and a2.child == a.child
    pump(ini, res, a2.rekey_child(2.0))
    assert len(mn.sad) == 2 and len(mp.sad) == 2


def with_policy(seed: int, timeout: float
                ) -> tuple[IPsec, IPsec, IkeInitiator, IkeResponder, IkeSa, IkeSa]:
    """:func:`established` with ``redundant_sa_timeout`` on both ends."""
    from hmipv6.core.ike.sa import SaPolicy

    policy = SaPolicy(redundant_sa_timeout=timeout)
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini = initiator(mn, seed=seed, suites=("esp-aes-gcm",), policy=policy)
    res = responder(mp, policy=policy)
    assert isinstance(run_exchange(ini, res, lcoa=LCOA_A), Established)
    (a,) = ini.ike_sas.values()
    (b,) = res.ike_sas.values()
    return mn, mp, ini, res, a, b


def expire_redundant_child(holder: IkeInitiator | IkeResponder, peer: IkeInitiator | IkeResponder,
                           sa: IkeSa, mn: IPsec, mp: IPsec, a: IkeSa, b: IkeSa) -> None:
    """``holder``'s IKE SA ``sa`` keeps a redundant Child SA the peer never deletes (timeout
    5 s from 1.0, :func:`with_policy`): nothing before 6.0, then ``holder`` deletes it itself
    and one Child SA pair is left on both ends, in both SADs."""
    assert len(sa.children.items) == 2
    awaited = dict(sa.children.awaiting)
    assert len(awaited) == 1
    assert sa.next_timer() == pytest.approx(6.0) and holder.next_timer() == pytest.approx(6.0)
    assert sa.children.awaiting == awaited  # asking when is a query: nothing changes
    assert holder.handle_timer(5.9) == []
    out = holder.handle_timer(6.0)
    assert sa.counters["redundant-child-deleted"] == 1
    pump(holder, peer, out, 6.0)
    assert len(a.children.items) == len(b.children.items) == 1
    assert not a.children.awaiting and not b.children.awaiting  # gone with the deleted SA
    assert a.child is not None and b.child is not None and a.child.inbound.spi == b.child.outbound.spi
    assert len(mn.sad) == 2 and len(mp.sad) == 2


@pytest.mark.req("X5380-05")
@pytest.mark.parametrize(("seed", "winner"), [(1, "map"), (2, "map"), (20, "mn"), (30, "mn")])
def test_redundant_ike_sa_the_peer_never_deletes_is_deleted_after_the_timeout(
        seed: int, winner: str) -> None:
    """Simultaneous IKE SA rekey (§2.8.2) won by ``winner``, whose Delete of the old IKE SA
    overtakes its answer to the loser's rekey (seen with strongSwan): the loser gives the
    Child SAs to the winner's new IKE SA and drops its own rekey, so it never deletes the IKE
    SA the winner made in answer to it. After ``redundant_sa_timeout`` the winner deletes that
    redundant SA itself; both ends are left with the same single IKE SA."""
    mn, mp, ini, res, a, b = with_policy(seed, 5.0)
    (qa,), (qb,) = a.rekey_ike(1.0), b.rekey_ike(1.0)
    (answer_a,) = res.receive(1.0, qa)  # the MAP answers the MN's rekey
    (answer_b,) = ini.receive(1.0, qb)  # the MN answers the MAP's
    win: IkeInitiator | IkeResponder
    lose: IkeInitiator | IkeResponder
    win, lose, to_win, to_lose = ((res, ini, answer_b, answer_a) if winner == "map"
                                  else (ini, res, answer_a, answer_b))
    (delete_old,) = win.receive(1.1, to_win)
    (ack,) = lose.receive(1.2, delete_old)
    assert lose.receive(1.3, to_lose) == []  # for the deleted old IKE SA: dropped
    assert win.receive(1.3, ack) == []
    assert len(lose.ike_sas) == 1 and len(win.ike_sas) == 2
    redundant = next(sa for sa in win.ike_sas.values() if not sa.owns_children())
    assert redundant.state == "rekeyed"
    # The peer owes the Delete for ``redundant_sa_timeout`` seconds, then this end sends it.
    assert win.next_timer() == pytest.approx(6.1)
    assert win.handle_timer(6.0) == []
    (final,) = win.handle_timer(6.1)
    assert redundant.state == "deleted" and redundant.counters["redundant-deleted"] == 1
    assert lose.receive(6.1, final) == []  # an IKE SA the loser never had
    (w,), (lo,) = win.ike_sas.values(), lose.ike_sas.values()
    assert (w.spi_i, w.spi_r) == (lo.spi_i, lo.spi_r) and w.keys == lo.keys
    assert w.owns_children() and lo.owns_children() and w.state == lo.state == "established"
    assert w.next_timer() is None and lo.next_timer() is None
    # The survivor carries the Child SA: a rekey on it, then a BU.
    a2 = w if win is ini else lo
    pump(ini, res, a2.rekey_child(7.0), 7.0)
    assert len(mn.sad) == 2 and len(mp.sad) == 2
    assert send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1) is not None


@pytest.mark.req("X5380-05")
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_redundant_child_sa_the_crossing_loser_never_deletes_is_deleted_after_the_timeout(
        seed: int) -> None:
    """Simultaneous Child SA rekey (§2.8.1) whose loser never gets its Delete of the Child SA
    it created to the winner: the winner deletes that redundant SA itself after
    ``redundant_sa_timeout``; one Child SA pair is left on both ends."""
    mn, mp, ini, res, a, b = with_policy(seed, 5.0)
    old_a = a.child
    (qa,), (qb,) = a.rekey_child(1.0), b.rekey_child(1.0)
    (answer_a,) = res.receive(1.0, qa)
    (answer_b,) = ini.receive(1.0, qb)
    (from_res,) = res.receive(1.0, answer_b)  # each end's Delete: the old SA or its own new
    (from_ini,) = ini.receive(1.0, answer_a)
    assert a._pending is not None and b._pending is not None
    mn_lost = a._pending.child != old_a
    win, lose, sw = (res, ini, b) if mn_lost else (ini, res, a)
    to_lose = from_res if mn_lost else from_ini  # the winner's Delete of the old SA
    pump(win, lose, [to_lose], 1.0)  # the loser's Delete of its own new SA: lost for good
    expire_redundant_child(win, lose, sw, mn, mp, a, b)
    assert send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1) is not None


@pytest.mark.req("X5380-05")
@pytest.mark.parametrize("who", ["mn", "map"])
def test_old_child_and_ike_sas_the_rekey_initiator_never_deletes_are_deleted_after_the_timeout(
        who: str) -> None:
    """A Child SA rekey and an IKE SA rekey whose initiator's Delete of the old SA is lost for
    good (the initiator gave up, §2.8): the responder deletes the old SA itself once
    ``redundant_sa_timeout`` has passed; without the timeout both would stay forever."""
    mn, mp, ini, res, a, b = with_policy(1, 5.0)
    x, y, sx = (ini, res, a) if who == "mn" else (res, ini, b)
    (req,) = sx.rekey_child(1.0)
    (answer,) = y.receive(1.0, req)
    (lost,) = x.receive(1.0, answer)  # the Delete of the old Child SA: never delivered
    del lost
    sy = b if who == "mn" else a
    expire_redundant_child(y, x, sy, mn, mp, a, b)
    # The initiator's retransmitted Delete names an SA already gone: answered empty.
    pump(x, y, x.handle_timer(6.5), 6.5)
    assert sy.counters["delete-unknown-spi"] == 1 and sx._pending is None
    # The same for the IKE SA.
    (req,) = sx.rekey_ike(10.0)
    (answer,) = y.receive(10.0, req)
    assert x.receive(10.0, answer)  # the Delete of the old IKE SA: never delivered
    assert len(y.ike_sas) == 2 and sy.state == "rekeyed" and y.next_timer() == pytest.approx(15.0)
    (final,) = y.handle_timer(15.0)
    assert sy.state == "deleted" and sy.counters["redundant-deleted"] == 1
    assert x.receive(15.0, final)  # the rekey's initiator still has the old SA: it answers
    (xn,), (yn,) = x.ike_sas.values(), y.ike_sas.values()
    assert (xn.spi_i, xn.spi_r) == (yn.spi_i, yn.spi_r) and xn.owns_children()
    assert len(mn.sad) == 2 and len(mp.sad) == 2
    assert send_bu(map_engine(mp), mn, LCOA_A, RCOA_A, 1) is not None


@pytest.mark.req("X5380-05")
@pytest.mark.parametrize("who", ["mn", "map"])
def test_old_child_sa_deleted_late_by_the_rekey_initiator_is_no_longer_awaited(who: str) -> None:
    """The rekey initiator's Delete of the old Child SA arrives late but before
    ``redundant_sa_timeout`` (§2.8): the responder forgets that it was waiting for it, and no
    timer is left for it."""
    mn, mp, ini, res, a, b = with_policy(1, 5.0)
    x, y, sx, sy = (ini, res, a, b) if who == "mn" else (res, ini, b, a)
    (req,) = sx.rekey_child(1.0)
    (answer,) = y.receive(1.0, req)
    (delete_old,) = x.receive(1.0, answer)
    assert len(sy.children.awaiting) == 1 and y.next_timer() == pytest.approx(6.0)
    pump(y, x, y.receive(3.0, delete_old), 3.0)  # late, within the timeout
    assert not sy.children.awaiting and y.next_timer() is None
    assert y.handle_timer(6.0) == [] and sy.counters["redundant-child-deleted"] == 0
    assert len(a.children.items) == len(b.children.items) == 1
    assert len(mn.sad) == 2 and len(mp.sad) == 2


def test_additional_child_sa_is_refused_with_no_additional_sas() -> None:
    _, _, _ini, res, a, _ = established()
    keys = a.keys
    req = cr.seal_sk(Message(a.spi_i, a.spi_r, ExchangeType.CREATE_CHILD_SA, Flags.INITIATOR,
                             a._next_mid, (
        SecurityAssociationPayload(strongswan_default_esp(b"\0\0\1\0")), Nonce(bytes(32)),
        TrafficSelectors((TrafficSelector.address(RCOA_A),)),
        TrafficSelectors((TrafficSelector.address(MAP),), True))),
        keys.sk_ei, keys.sk_ai, random.Random(0))
    (resp,) = res.receive(1.0, req)
    inner = cr.open_sk(resp, decode(resp), keys.sk_er, keys.sk_ar)
    assert [n.type for n in inner if isinstance(n, Notify)] == [NotifyType.NO_ADDITIONAL_SAS]


def test_periodic_policy_rekeys_and_checks_liveness() -> None:
    from hmipv6.core.ike.sa import SaPolicy

    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    ini = initiator(mn, policy=SaPolicy(child_rekey=100.0, ike_rekey=250.0, dpd=30.0))
    res = responder(mp)
    assert isinstance(run_exchange(ini, res, lcoa=LCOA_A), Established)
    now, seen = 0.0, []
    while now < 400.0:
        t = ini.next_timer()
        assert t is not None
        now = t
        pump(ini, res, ini.handle_timer(now), now)
        seen += [sa for sa in ini.ike_sas.values() if sa not in seen]
    first, second = seen
    assert [e for e, _ in first.events if e != "dpd-ok"] == [
        "child-rekeyed", "child-deleted", "child-rekeyed", "child-deleted", "ike-rekeyed",
        "ike-deleted"]
    assert first.state == "deleted" and second.owns_children()
    assert [e for e, _ in second.events if e != "dpd-ok"] == [
        "child-rekeyed", "child-deleted", "child-rekeyed", "child-deleted"]
    assert first.counters["sent-dpd"] >= 3 and second.counters["sent-dpd"] >= 3
    (b,) = res.ike_sas.values()
    assert (b.spi_i, b.spi_r) == (second.spi_i, second.spi_r)
    assert len(mn.sad) == 2 and len(mp.sad) == 2
    assert second.child is not None and b.child is not None
    assert second.child.outbound.spi == b.child.inbound.spi


# -- cookies (RFC 7296 §2.6; issue 9 item 7) --------------------------------------------------------


def spoofed_init(i: int) -> bytes:
    dh = cr.DiffieHellman(19, random.Random(i))
    return Message(1000 + i, 0, ExchangeType.IKE_SA_INIT, Flags.INITIATOR, 0, (
        SecurityAssociationPayload(strongswan_default_ike()), KeyExchange(19, dh.public),
        Nonce(i.to_bytes(32, "big")))).encode()


def test_cookies_above_threshold_and_initiator_retries_with_the_cookie() -> None:
    mn, mp = IPsec(name="mn-a"), IPsec(name="map")
    res = responder(mp, cookie_threshold=2, max_sas=8)
    genuine = [initiator(IPsec(name="mn-a"), seed=s) for s in (11, 12)]
    firsts = [g.start(0.0) for g in genuine]
    seconds = [res.receive(0.0, f, LCOA_A) for f in firsts]  # two half-open exchanges
    assert res.half_open == 2
    # A spoofed flood from many sources: answered with COOKIE only, no state kept.
    for i in range(200):
        (resp,) = res.receive(0.0, spoofed_init(i), IPv6Address(int(LCOA_A) + i + 1))
        assert [type(p).__name__ for p in decode(resp).payloads] == ["Notify"]
        assert decode(resp).payloads[0].type == NotifyType.COOKIE  # type: ignore[attr-defined]
    assert res.half_open == 2 and res.counters["evicted"] == 0
    # The genuine half-open exchanges were not evicted: both complete.
    for g, s in zip(genuine, seconds, strict=True):
        auth = [r for m in s for r in g.receive(0.0, m)]
        pump(g, res, auth)
        assert isinstance(g.outcome, Established)
    assert sum(isinstance(e, Established) for e in res.events) == 2
    # A new initiator above the threshold: COOKIE, retry with it, then the exchange completes.
    res.cookie_threshold = 0
    ini = initiator(mn, seed=21)
    out = run_exchange(ini, res, lcoa=LCOA_A)
    assert ini.counters["cookie-retry"] == 1 and res.counters["cookie-accepted"] == 1
    assert out.__class__.__name__ in ("Established", "RcoaRefused")
    # A cookie made for another source address is refused (another COOKIE comes back).
    ini2 = initiator(IPsec(name="mn-b"), "mn-b", seed=22)
    (c,) = res.receive(0.0, ini2.start(0.0), LCOA_A)
    (retry,) = ini2.receive(0.0, c)
    (again,) = res.receive(0.0, retry, IPv6Address("2001:db8:9::1"))
    assert decode(again).payloads[0].type == NotifyType.COOKIE  # type: ignore[attr-defined]


def _cookie_round(res: IkeResponder, seed: int, asked: float, retried: float,
                  between: tuple[float, ...] = ()) -> tuple[bytes, bytes]:
    """An initiator asks at ``asked`` (answered with a COOKIE) and retries with the cookie at
    ``retried``; other initiators ask at the ``between`` times meanwhile. Returns the cookie
    and the responder's answer to the retry."""
    ini = initiator(IPsec(name="mn-a"), seed=seed)
    (c,) = res.receive(asked, ini.start(asked), LCOA_A)
    cookie = decode(c).payloads[0]
    assert isinstance(cookie, Notify) and cookie.type == NotifyType.COOKIE
    for i, t in enumerate(between):
        other = initiator(IPsec(name="mn-a"), seed=seed * 100 + i)
        (o,) = res.receive(t, other.start(t), LCOA_A)
        assert decode(o).payloads[0].type == NotifyType.COOKIE  # type: ignore[attr-defined]
    (retry,) = ini.receive(asked, c)
    (answer,) = res.receive(retried, retry, LCOA_A)
    return cookie.data, answer


def _accepted(answer: bytes) -> bool:
    return any(isinstance(p, Nonce) for p in decode(answer).payloads)


def test_the_cookie_secret_changes_periodically_and_the_previous_one_still_counts() -> None:
    """RFC 7296 §2.6: the secret is "periodically changed" (VersionIDofSecret with it); a
    cookie made with the secret before the current one is still accepted, one made two
    changes ago is not (another COOKIE comes back, with the current version)."""
    res = responder(IPsec(name="map"), cookie_threshold=0, cookie_secret_lifetime=60.0)
    # Within one lifetime: the same secret, version 0.
    cookie, answer = _cookie_round(res, 31, 0.0, 59.0)
    assert cookie[:4] == bytes(4) and _accepted(answer)
    # Asked at 60 s: a cookie from a new secret (version 1).
    cookie, answer = _cookie_round(res, 32, 60.0, 61.0)
    assert int.from_bytes(cookie[:4], "big") == 1 and _accepted(answer)
    # A cookie made just before a change is still good after it (the previous secret).
    cookie, answer = _cookie_round(res, 33, 119.0, 121.0, between=(120.0,))
    assert int.from_bytes(cookie[:4], "big") == 1 and _accepted(answer)
    # Two changes after it was made, a cookie is refused: a fresh one comes back.
    cookie, answer = _cookie_round(res, 34, 121.0, 242.0, between=(181.0,))
    assert int.from_bytes(cookie[:4], "big") == 2 and not _accepted(answer)
    again = decode(answer).payloads[0]
    assert isinstance(again, Notify) and again.type == NotifyType.COOKIE
    assert int.from_bytes(again.data[:4], "big") == 4


def test_a_cookie_naming_a_secret_version_it_was_not_made_with_is_refused() -> None:
    res = responder(IPsec(name="map"), cookie_threshold=0)
    ini = initiator(IPsec(name="mn-a"), seed=41)
    (c,) = res.receive(0.0, ini.start(0.0), LCOA_A)
    cookie = decode(c).payloads[0]
    assert isinstance(cookie, Notify)
    res.rotate_cookie_secret()
    res.rotate_cookie_secret()  # version 0 is now two changes old
    (retry,) = ini.receive(0.0, c)
    (answer,) = res.receive(1.0, retry, LCOA_A)
    assert not _accepted(answer)
    # The same hash under the current version's number: still not a cookie of ours.
    forged = Message(decode(retry).spi_i, 0, ExchangeType.IKE_SA_INIT, Flags.INITIATOR, 0, (
        Notify(NotifyType.COOKIE, data=(2).to_bytes(4, "big") + cookie.data[4:]),
        *decode(retry).payloads[1:]))
    (answer,) = res.receive(1.0, forged.encode(), LCOA_A)
    assert not _accepted(answer)


def test_without_a_secret_lifetime_the_secret_changes_only_on_request() -> None:
    res = responder(IPsec(name="map"), cookie_threshold=0, cookie_secret_lifetime=None)
    cookie, answer = _cookie_round(res, 51, 0.0, 10_000.0, between=(5_000.0,))
    assert cookie[:4] == bytes(4) and _accepted(answer)


def test_cp_request_tunnel_free_config_attribute_roundtrip() -> None:
    cp = Configuration(1, (ConfigAttribute(8),))
    assert cp.encode_body() == bytes((1, 0, 0, 0, 0, 8, 0, 0))


@pytest.mark.parametrize("kind", ["rekey-child", "rekey-ike", "delete-child", "dpd"])
def test_mutated_requests_inside_a_valid_sk_never_raise(kind: str) -> None:
    """Bad input after IKE_AUTH: each request's clear inner payload chain, mutated at random
    and sealed with the right keys (so it passes the ICV), is answered or dropped, never
    raised out of ``receive`` (either role)."""
    from hmipv6.core.ike.message import decode_chain, encode_chain
    from hmipv6.errors import DecodeError

    rng = random.Random(kind)
    for trial in range(300):
        _, _, ini, res, a, b = established(seed=1 + trial % 3)
        sender, receiver = (a, res) if trial % 2 else (b, ini)
        req = {"rekey-child": sender.rekey_child, "rekey-ike": sender.rekey_ike,
               "delete-child": sender.delete_child, "dpd": sender.dpd}[kind](1.0)
        (data,) = req
        msg = decode(data)
        enc, integ = sender._out_keys()
        inner = cr.open_sk(data, msg, enc, integ)
        first, chain = encode_chain(inner)
        raw = bytearray(chain)
        for _ in range(rng.randint(1, 4)):
            if raw and rng.random() < 0.8:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            else:
                raw = raw[:rng.randrange(len(raw) + 1)]
        try:
            payloads = decode_chain(first, bytes(raw), 0, len(raw))
        except DecodeError:  # a chain that no longer decodes: send an empty one
            payloads = ()
        bad = Message(msg.spi_i, msg.spi_r, msg.exchange, msg.flags, msg.message_id, payloads)
        receiver.receive(1.0, cr.seal_sk(bad, enc, integ, rng))


@pytest.mark.req("X5380-05", "SEC-06")
@pytest.mark.parametrize("deleted", ["ike", "child"])
def test_mobile_node_negotiates_again_when_the_map_deletes_its_ike_sa(deleted: str) -> None:
    """The MAP deletes the IKE SA (and with it the Child SA protecting the BUs): the mobile node
    answers, notices it has no SA with its MAP any more, runs IKEv2 again asking for an
    address (CP), gets the same RCoA back, and its next binding refresh is accepted. When the
    MAP deletes only the Child SA, the mobile node asks for a new one on the same IKE SA
    (CREATE_CHILD_SA, RFC 7296 §1.3.1) and at once sends a local BU protected with it."""
    from hmipv6.core.events import BindingAcknowledged
    from hmipv6.core.ike.client import IkeClient
    from hmipv6.core.ike.engines import IkeMobilityAnchorPoint
    from hmipv6.core.mobile_node import MobileNode, MobileNodeConfig
    from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet
    from tests.core.test_mobile_node_support import HA, HOA, IID, P1, Harness, mapopt, ra

    mp = IPsec(name="map")
    m = IkeMobilityAnchorPoint("map", address=MAP, rcoa_prefix=RCOA_PREFIX, security=mp)
    m.add_route("::/0", "eth0", IPv6Address("fe80::1"))
    m.ike = responder(mp)
    mn_sec = IPsec(name="mn-a")
    client = IkeClient(mn_sec, identity="mn-a", psks={MAP: b"psk of mn-a"},
                       rng=random.Random(4), map_identities={MAP: "map"})
    h = Harness(MobileNode("mn", MobileNodeConfig(
        home_address=HOA, home_agent=HA, interface_id=IID, dad="none",
        max_rtr_solicitation_delay=0.0, profile="rfc5380", binding_lifetime=60),
        interfaces=("wlan0",), rng=random.Random(5), security=mn_sec, ike=client))
    bas: list[BindingAcknowledged] = []

    def deliver(from_mn: list[IPv6Packet]) -> None:
        while from_mn:
            for p in from_mn:
                if p.dst == MAP:
                    m.receive(h.now, "eth0", p.encode())
            from_mn = []
            for tx in m.datagrams_to_send(h.now):
                # Every BA reaches the MN through ESP (the MN would drop a clear one) and is
                # accepted there (a BindingAcknowledged event from the MAP).
                seen = len(h.events)
                from_mn += h.feed(tx.data)
                bas.extend(e for e in h.events[seen:]
                           if isinstance(e, BindingAcknowledged) and e.by == MAP)

    h.attach()
    deliver(h.feed(ra(P1, [mapopt(MAP, r=True)])))
    rcoa = h.mn.rcoa()
    assert rcoa is not None and bas and bas[-1].status == 0
    first = client.initiators[MAP]
    # The MAP deletes the IKE SA; the INFORMATIONAL request goes to the MN's LCoA.
    sa = m.ike.current
    assert sa is not None and sa.peer_address is not None
    from hmipv6.core.ike.transport import ike_packet

    if deleted == "child":
        old = client.established[MAP].child
        (req,) = sa.delete_child(h.now)
        n = len(bas)
        deliver(h.feed(ike_packet(MAP, sa.peer_address, req)))
        assert h.mn.counters["ike_child_renewed"] == 1 and h.mn.counters["ike_restarted"] == 0
        assert client.initiators[MAP] is first and len(first.ike_sas) == 1
        new = client.established[MAP].child
        assert new != old and sa.child is not None and sa.child.inbound.spi == new.outbound.spi
        assert len(mn_sec.sad) == 2 and mn_sec.sad.inbound("esp", old.inbound.spi) is None
        # The re-registration went out at once, under the new SA, and was accepted.
        assert len(bas) == n + 1 and bas[-1].status == 0
        esp = [p.payload for p in h.sent if p.dst == MAP
               and isinstance(p.payload, EncapsulatingSecurityPayload)]
        assert esp[-1].spi == new.outbound.spi
        assert mn_sec.sad.inbound("esp", new.inbound.spi) is not None
        assert sa.counters["child-create-answered"] == 1
        return
    (req,) = sa.delete(h.now)
    deliver(h.feed(ike_packet(MAP, sa.peer_address, req)))
    assert not first.ike_sas and h.mn.counters["ike_restarted"] == 1
    assert h.mn.counters["ike_reestablished"] == 1 and client.initiators[MAP] is not first
    assert h.mn.rcoa() == rcoa and client.established[MAP].rcoa == rcoa
    # The next refresh is protected with the new Child SA and accepted.
    n = len(bas)
    while len(bas) == n and h.now < 120:
        t = h.mn.next_timer()
        assert t is not None
        deliver(h.advance(t))
    assert len(bas) > n and bas[-1].status == 0
    new_spi = client.established[MAP].child.inbound.spi
    assert mn_sec.sad.inbound("esp", new_spi) is not None
