"""hmipv6.sim.plots: PNGs from hand-built report dicts (valid, deterministic, bounded)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from hmipv6.sim import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Parse a PNG into (type, body) chunks, checking every CRC."""
    assert data[:8] == PNG_MAGIC
    out = []
    i = 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        body = data[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        assert zlib.crc32(kind + body) == crc
        out.append((kind, body))
        i += 12 + length
    assert out[0][0] == b"IHDR" and out[-1][0] == b"IEND"
    return out


def handover(mn: str, src: str | None, dst: str, kind: str, t0: float, *, registration: float,
             latency: float | None, lost: int, home: float | None = None) -> dict[str, Any]:
    return {
        "mn": mn, "from": src, "to": dst, "kind": kind,
        "timeline": {"l2_down": t0 if src else None, "l2_up": t0 + 0.05,
                     "ra_received": t0 + 0.071, "coa_ready": t0 + 0.071, "bu_sent": t0 + 0.071,
                     "ba_received": t0 + 0.071 + registration, "home_ba_received": home,
                     "first_data": None if latency is None else t0 + latency},
        "latency": latency, "registration": registration, "lost": lost,
    }


def report(protocol: str, handovers: list[dict[str, Any]], *, to_ha: int, to_maps: int
           ) -> dict[str, Any]:
    return {
        "format": "hmipv6-report/1", "scenario": "hand-built", "protocol": protocol,
        "profile": "rfc4140", "seed": 1, "duration": 20.0, "world": "simulation",
        "handovers": handovers,
        "flows": [{"from": "cn", "to": "mn", "kind": "cbr", "sent": 1800, "received": 1792,
                   "lost": 8, "duplicated": 0, "reordered": 0, "max_gap": 0.09}],
        "signalling": {"by_type": {"BU": to_ha + to_maps, "BA": to_ha + to_maps},
                       "to_home_agent": to_ha, "to_correspondents": 0, "to_maps": to_maps,
                       "bytes_on_wireless": 123456},
        "nodes": {},
    }


def comparison() -> dict[str, dict[str, Any]]:
    return {
        "mipv6": report("mipv6", [
            handover("mn", None, "ar1", "initial", 0.0, registration=0.06, latency=0.4, lost=0),
            handover("mn", "ar1", "ar2", "mipv6", 8.0, registration=0.06, latency=0.16, lost=16),
        ], to_ha=3, to_maps=0),
        "hmipv6": report("hmipv6", [
            handover("mn", None, "ar1", "initial", 0.0, registration=0.008, latency=0.1,
                     lost=0, home=0.14),
            handover("mn", "ar1", "ar2", "intra-domain", 8.0, registration=0.008, latency=0.084,
                     lost=8),
        ], to_ha=1, to_maps=2),
    }


def test_write_plots_makes_three_valid_pngs(tmp_path: Path) -> None:
    paths = plots.write_plots(comparison(), tmp_path)
    assert [p.name for p in paths] == ["timeline.png", "handovers.png", "signalling.png"]
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000
        chunks = png_chunks(data)
        width, height = struct.unpack(">II", chunks[0][1][:8])
        assert 300 <= width <= 2000 and 200 <= height <= 2000
        # no text chunk naming the software (matplotlib version) or a date
        for kind, body in chunks:
            if kind in (b"tEXt", b"iTXt", b"zTXt"):
                assert not body.startswith((b"Software", b"Creation"))
        assert not any(kind == b"tIME" for kind, _ in chunks)


def test_plots_are_byte_identical_across_runs(tmp_path: Path) -> None:
    a = plots.write_plots(comparison(), tmp_path / "a")
    b = plots.write_plots(comparison(), tmp_path / "b")
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()


def test_single_protocol_and_missing_values(tmp_path: Path) -> None:
    r = report("hmipv6", [handover("mn", "ar1", "ar2", "intra-domain", 8.0, registration=0.008,
                                   latency=None, lost=0)], to_ha=1, to_maps=1)
    r["handovers"][0]["timeline"]["ra_received"] = None
    del r["signalling"]["to_correspondents"]
    for p in plots.write_plots({"hmipv6": r}, tmp_path):
        png_chunks(p.read_bytes())


def test_empty_report(tmp_path: Path) -> None:
    r: dict[str, Any] = {"format": "hmipv6-report/1", "handovers": [], "flows": [],
                         "signalling": {}}
    for p in plots.write_plots({"hmipv6": r}, tmp_path):
        png_chunks(p.read_bytes())


@pytest.mark.parametrize("count", [30, 400])
def test_many_mobile_nodes_are_bounded(tmp_path: Path, count: int) -> None:
    hs = []
    for i in range(count):
        mn = f"mn{i:03d}"
        hs.append(handover(mn, None, "ar00", "initial", 0.0, registration=0.01, latency=0.1,
                           lost=0))
        for k in range(5):
            kind = "intra-domain" if k % 2 else "inter-domain"
            hs.append(handover(mn, "ar00", "ar01", kind, 5.0 + 7 * k, registration=0.01 * k,
                               latency=0.09 + 0.01 * k, lost=k))
    r = report("hmipv6", hs, to_ha=count * 3, to_maps=count * 6)
    paths = plots.write_plots({"hmipv6": r, "mipv6": report("mipv6", hs, to_ha=count * 6,
                                                             to_maps=0)}, tmp_path)
    for p in paths:
        chunks = png_chunks(p.read_bytes())
        _width, height = struct.unpack(">II", chunks[0][1][:8])
        assert height <= 1400  # a bounded sample, not one row per handover
