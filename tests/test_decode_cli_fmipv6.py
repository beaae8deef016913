"""FH-01: ``hmipv6 decode`` prints the FMIPv6 messages and options (its rendering is generic
over the wire dataclasses, so this checks names, code points and units come out right)."""

from __future__ import annotations

import json
import pathlib

import pytest

from hmipv6.cli import main
from hmipv6.wire import pcap as pc
from tests.wire import vectors_fmipv6 as V


def _json(capsys: pytest.CaptureFixture[str], *names: str) -> list[dict[str, object]]:
    assert main(["decode", "--json", *(V.PACKETS[n] for n in names)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _payload(rec: dict[str, object]) -> dict[str, object]:
    headers = rec["headers"]
    assert isinstance(headers, list)
    last = headers[-1]
    assert isinstance(last, dict)
    return last


@pytest.mark.req("FH-01")
def test_FH01_decode_prints_rtsolpr_and_prrtadv_with_the_map_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    sol, adv = _json(capsys, "rtsolpr", "prrtadv_map")
    assert _payload(sol) == {
        "header": "router_solicitation_for_proxy_advertisement",
        "icmp_type": {"name": "FMIPV6", "value": 154},
        "subtype": {"name": "RTSOLPR", "value": 2},
        "identifier": 0x1234,
        "options": [
            {"type": "link_layer_address_option",
             "option_type": {"name": "LINK_LAYER_ADDRESS", "value": 19},
             "option_code": {"name": "SOURCE", "value": 4}, "lla": V.MN_MAC + "00" * 7},
            {"type": "link_layer_address_option",
             "option_type": {"name": "LINK_LAYER_ADDRESS", "value": 19},
             "option_code": {"name": "NEW_ACCESS_POINT", "value": 1},
             "lla": V.AP_MAC + "00" * 7}],
        "reserved": 0, "code": 0}
    p = _payload(adv)
    assert p["header"] == "proxy_router_advertisement"
    assert p["subtype"] == {"name": "PRRTADV", "value": 3}
    assert p["code"] == {"name": "NEW_ROUTER_INFO", "value": 0}
    opts = p["options"]
    assert isinstance(opts, list)
    assert [o["type"] for o in opts] == ["link_layer_address_option"] * 3 + [
        "ip_address_prefix_option"] * 2 + ["map_option"]
    assert opts[3] == {"type": "ip_address_prefix_option",
                       "option_type": {"name": "IP_ADDRESS_PREFIX", "value": 17},
                       "option_code": {"name": "NAR_IP_ADDRESS", "value": 3},
                       "prefix_length": 128, "address": V.NAR, "reserved": 0}
    assert opts[5]["address"] == V.MAP and opts[5]["dist"] == 1


@pytest.mark.req("FH-01")
def test_FH01_decode_prints_the_mobility_header_messages(
        capsys: pytest.CaptureFixture[str]) -> None:
    recs = _json(capsys, "fbu_par_link", "fback_ncoa_invalid", "hi", "hack_refused", "fna",
                 "icmp_hi_rfc4068", "ra_naack_new_coa")
    fbu, fback, hi, hack, fna, old_hi, ra = (_payload(r) for r in recs)
    assert (fbu["header"], fbu["mh_type"], fbu["flags"], fbu["lifetime"]) == (
        "fast_binding_update", {"name": "FBU", "value": 8}, "AH", 40)
    assert fbu["options"] == [
        {"type": "alternate_care_of_address", "address": V.NCOA},
        {"type": "mobility_header_link_layer_address",
         "option_type": {"name": "MH_LINK_LAYER_ADDRESS", "value": 7},
         "option_code": {"name": "MOBILE_NODE", "value": 2}, "lla": V.MN_MAC},
        {"type": "binding_authorization_data_fmipv6",
         "option_type": {"name": "BINDING_AUTHORIZATION_DATA_FMIPV6", "value": 21},
         "spi": 256, "authenticator": bytes(range(0xA0, 0xAC)).hex()}]
    assert (fback["header"], fback["status"], fback["flags"], fback["lifetime"]) == (
        "fast_binding_acknowledgement", {"name": "ACCEPTED_NCOA_INVALID", "value": 1}, "K", 20)
    assert (hi["header"], hi["mh_type"], hi["code"], hi["assigned_address"], hi["buffer"]) == (
        "handover_initiate", {"name": "HI", "value": 14},
        {"name": "FBU_FROM_PCOA", "value": 0}, True, True)
    opts = hi["options"]
    assert isinstance(opts, list)
    assert opts[1] == {"type": "mobility_header_ip_address_prefix",
                       "option_type": {"name": "MH_IP_ADDRESS_PREFIX", "value": 34},
                       "option_code": {"name": "OLD_CARE_OF_ADDRESS", "value": 1},
                       "prefix_length": 128, "address": V.PCOA}
    assert (hack["header"], hack["code"], hack["options"]) == (
        "handover_acknowledge", {"name": "INSUFFICIENT_RESOURCES", "value": 130}, [])
    assert (fna["header"], fna["mh_type"]) == ("fast_neighbor_advertisement",
                                               {"name": "FNA", "value": 10})
    assert (old_hi["header"], old_hi["subtype"]) == ("unknown_fmipv6",
                                                     {"name": "HI_DEPRECATED", "value": 4})
    ra_opts = ra["options"]
    assert isinstance(ra_opts, list)
    assert ra_opts == [{"type": "neighbor_advertisement_acknowledgement",
                        "option_type": {"name": "NEIGHBOR_ADVERTISEMENT_ACKNOWLEDGMENT",
                                        "value": 20},
                        "status": {"name": "NCOA_INVALID_USE_SUPPLIED", "value": 2},
                        "new_coa": "2001:db8:b::77", "option_code": 0, "reserved": 0}]


@pytest.mark.req("FH-01")
def test_FH01_decode_text_output_of_a_pcap_of_every_vector(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [bytes.fromhex(h) for h in V.PACKETS.values()]
    path = tmp_path / "fmipv6.pcap"
    path.write_bytes(pc.encode_pcap([(i * 0.5, f) for i, f in enumerate(frames)],
                                    pc.LINKTYPE_RAW))
    assert main(["decode", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("packet ") == len(frames) and "malformed" not in out
    assert ("  handover_initiate: mh_type=HI(14) sequence=2571 code=FBU_FROM_PCOA(0) "
            "assigned_address=True buffer=True reserved=0 payload_proto=59 header_reserved=0"
            ) in out.splitlines()
    assert (f"    map_option: option_type=MAP(23) dist=1 pref=10 r=False valid_lifetime=3600 "
            f"address={V.MAP} reserved=0") in out.splitlines()
