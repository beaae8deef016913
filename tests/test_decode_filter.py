"""``hmipv6 decode --filter TYPES --address ADDR`` on captures the simulator wrote: one cell's
capture is mostly RAs; the filter keeps the exchange asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hmipv6.cli import main

CN = "2001:db8:c::1"


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("decode-filter")
    assert main(["simulate", "--protocol", "hmipv6", "--duration", "9s", "--out",
                 str(out / "f1"), "--export-sa", str(out / "esp_sa"), "--quiet"]) == 0
    assert main(["simulate", "--protocol", "hmipv6", "--duration", "2s", "--set",
                 "scenario.profile=rfc5380", "--out", str(out / "r5"), "--quiet"]) == 0
    return {"cell": out / "f1" / "pcap" / "cell-ar2.pcap", "sa": out / "esp_sa",
            "ike": out / "r5" / "pcap" / "cell-ar1.pcap"}


def decoded(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert main(["decode", "--json", *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def names(rec: dict[str, Any]) -> list[str]:
    return [h["header"] for h in rec["headers"]]


def test_filter_by_type_keeps_only_those_messages(captures: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    everything = decoded(capsys, str(captures["cell"]))
    ras = decoded(capsys, "--filter", "ra", str(captures["cell"]))
    assert ras and len(ras) < len(everything)
    assert [r["packet"] for r in ras] == [r["packet"] for r in everything
                                          if "router_advertisement" in names(r)]
    # Several types, any case, and full header names.
    mixed = decoded(capsys, "--filter", "RA,ns", "--filter", "neighbor_advertisement",
                    str(captures["cell"]))
    wanted = {"router_advertisement", "neighbor_solicitation", "neighbor_advertisement"}
    assert [r["packet"] for r in mixed] == [r["packet"] for r in everything
                                            if wanted & set(names(r))]


def test_filter_sees_bus_and_bas_inside_esp_with_the_sas(
        captures: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    opaque = decoded(capsys, "--filter", "bu,ba", str(captures["cell"]))
    assert opaque == []  # ESP-protected: the types are not visible without the keys
    assert len(decoded(capsys, "--filter", "esp", str(captures["cell"]))) == 2
    opened = decoded(capsys, "--esp-sa", str(captures["sa"]), "--filter", "bu,ba",
                     str(captures["cell"]))
    kinds = [n for r in opened for n in names(r)
             if n in ("binding_update", "binding_acknowledgement")]
    assert kinds == ["binding_update", "binding_acknowledgement"]


def test_filter_by_address_looks_into_tunnels(captures: dict[str, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    everything = decoded(capsys, str(captures["cell"]))
    from_cn = decoded(capsys, "--address", CN, str(captures["cell"]))
    # The CN's datagrams reach the cell inside the MAP's (and the HA's) tunnels.
    assert from_cn and all(names(r)[:2] == ["ipv6", "ipv6"] and "udp" in names(r)
                           for r in from_cn)
    assert len(from_cn) == sum(1 for r in everything if "udp" in names(r))
    prefix = decoded(capsys, "--address", "2001:db8:c::/64", "--filter", "udp",
                     str(captures["cell"]))
    assert [r["packet"] for r in prefix] == [r["packet"] for r in from_cn]
    assert decoded(capsys, "--address", "2001:db8:dead::1", str(captures["cell"])) == []


def test_filter_ike(captures: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ike = decoded(capsys, "--filter", "ike", str(captures["ike"]))
    assert len(ike) == 4  # IKE_SA_INIT and IKE_AUTH, each a request and a response
    udp = [r["headers"][-1] for r in ike]
    assert all(h["header"] == "udp" and 500 in (h["src_port"], h["dst_port"]) for h in udp)


def test_text_output_keeps_capture_numbers(captures: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--filter", "esp", str(captures["cell"])]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("packet ")]
    assert len(lines) == 2 and not lines[0].startswith("packet 1:")


@pytest.mark.parametrize(("argv", "message"), [
    (["--filter", "bogus"], "--filter: unknown message type 'bogus'"),
    (["--address", "not-an-address"], "--address 'not-an-address' is not an IPv6 address"),
])
def test_bad_filters_are_usage_errors(argv: list[str], message: str, captures: dict[str, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", *argv, str(captures["cell"])]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("hmipv6 decode: error: ")
    assert message in captured.err and captured.err.count("\n") == 1
