"""Fast handovers (RFC 4140 Appendix A with RFC 5568 messages) on real kernels: the testbed
delivers the L2 trigger to the mobile node's daemon ``fh_anticipation`` before the move, as
the simulator does, and the FMIPv6 exchange runs through the namespaces' veths."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hmipv6.wire.fmipv6 import FastBindingUpdate, HandoverAcknowledge, HandoverInitiate
from hmipv6.wire.ipv6 import EncapsulatingSecurityPayload, IPv6Packet
from tests.conftest import need_root
from tests.net.test_testbed import _packets

pytestmark = pytest.mark.netns


def _kinds(p: IPv6Packet) -> set[type]:
    out: set[type] = set()
    while isinstance(p, IPv6Packet):
        out.add(type(p.payload))
        p = p.payload  # type: ignore[assignment]
    return out


@pytest.mark.req("FH-02", "FH-03")
def test_fast_predictive_handover_on_real_kernels(tmp_path: Path) -> None:
    need_root()
    out = tmp_path / "out"
    proc = subprocess.run(["hmipv6", "testbed", "run", "figure1", "--protocol", "fhmipv6",
                           "--duration", "9s", "--set", "moves[1].at=5s",
                           "--set", "flows[0].stop=8s", "--out", str(out)],
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((out / "report.json").read_text())
    first, move = rep["handovers"]
    assert first["kind"] == "initial"
    assert move["kind"] == "fast-predictive" and (move["from"], move["to"]) == ("ar1", "ar2")
    tl = move["timeline"]
    # The FBU and its acknowledgement happen before the link goes down (predictive mode).
    assert tl["fbu_sent"] is not None and tl["fback_received"] is not None
    assert tl["fbu_sent"] < tl["fback_received"] < tl["l2_down"]
    assert tl["una_sent"] is not None and tl["una_sent"] >= tl["l2_up"]
    # Buffered at the new access router and delivered: nothing lost in the move.
    assert move["lost"] == 0
    # HI / HAck between the MAP and the new access router went over real veths.
    seen: set[type] = set()
    for f in (out / "pcap").glob("*.pcap"):
        for _, p in _packets(f):
            seen |= _kinds(p)
    assert {HandoverInitiate, HandoverAcknowledge} <= seen
    # The FBU itself travels ESP-protected (RFC 4140 §12.1), so it shows as ESP on the wire.
    assert EncapsulatingSecurityPayload in seen and FastBindingUpdate not in seen
