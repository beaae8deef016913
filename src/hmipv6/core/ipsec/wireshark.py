"""Wireshark's ESP SA table (the ``esp_sa`` UAT file), so users can look inside our ESP.

Theory of operation
-------------------
Wireshark (and tshark) decrypt ESP and check its ICV when given, per SA, one line of eight
quoted fields::

    "IPv6","SRC","DST","0xSPI","ENCRYPTION","0xENCKEY","AUTHENTICATION","0xAUTHKEY"

SRC and DST are matched against the packet's addresses *after* Home Address option / Type 2
routing header substitution (for a local BU the source is the RCoA), which is exactly how our
SA selectors are written, so a single-address selector is exported as that address and any
wider selector as ``*`` (the SPI still identifies the SA). Put the text in
``~/.config/wireshark/esp_sa`` (with the preferences ``esp.enable_encryption_decode`` and
``esp.enable_authentication_check`` set), or pass each line to tshark as
``-o 'uat:esp_sa:LINE'``.

Only ESP SAs are exported: Wireshark verifies no AH ICV. Writing the file is left to the
caller (``hmipv6 ... --export-sa FILE``): ``core`` does no I/O. :func:`parse_esp_sa_table`
reads such a file back (``hmipv6 decode --esp-sa FILE`` opens the ESP of a capture with it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

from hmipv6.core.ipsec.sad import SAParams, Selector
from hmipv6.errors import LocalProtocolError

__all__ = ["WIRESHARK_AUTH", "WIRESHARK_ENC", "esp_sa_line", "esp_sa_table",
           "parse_esp_sa_table"]

WIRESHARK_ENC = {
    "NULL": "NULL",
    "AES-CBC": "AES-CBC [RFC3602]",
    "AES-GCM-16": "AES-GCM with 16 octet ICV [RFC4106]",
}
WIRESHARK_AUTH = {
    "HMAC-SHA-256-128": "HMAC-SHA-256-128 [RFC4868]",
    "NULL": "NULL",
}


def _addr(sel: Selector) -> str:
    if sel is None or sel.prefixlen != 128:
        return "*"
    return str(sel.network_address)


def _key(key: bytes) -> str:
    return "0x" + key.hex() if key else ""


def esp_sa_line(sa: SAParams) -> str:
    """One ``esp_sa`` UAT record (without the newline)."""
    fields = ("IPv6", _addr(sa.src), _addr(sa.dst), f"0x{sa.spi:08x}", WIRESHARK_ENC[sa.enc],
              _key(sa.enc_key), WIRESHARK_AUTH[sa.auth], _key(sa.auth_key))
    return ",".join(f'"{f}"' for f in fields)


def esp_sa_table(sas: Iterable[SAParams]) -> str:
    """The ``esp_sa`` file for the ESP SAs among ``sas`` (duplicates, e.g. the same SA seen
    from both ends, written once)."""
    lines: list[str] = []
    for sa in sas:
        if sa.protocol != "esp":
            continue
        line = esp_sa_line(sa)
        if line not in lines:
            lines.append(line)
    return "".join(line + "\n" for line in lines)


_ENC_NAMES = {v: k for k, v in WIRESHARK_ENC.items()}
_AUTH_NAMES = {v: k for k, v in WIRESHARK_AUTH.items()}


def parse_esp_sa_table(text: str) -> list[SAParams]:
    """The ESP SAs of an ``esp_sa`` file (this module's lines, or a Wireshark user's with
    the algorithms this project implements); blank lines and ``#`` comments are skipped.
    Raises :class:`LocalProtocolError` naming the line for anything else."""
    out: list[SAParams] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            if len(row) != 8:
                raise LocalProtocolError(f"{len(row)} fields, expected 8")
            family, src, dst, spi, enc, enc_key, auth, auth_key = (f.strip() for f in row)
            if family != "IPv6":
                raise LocalProtocolError(f"protocol {family!r}, only IPv6 SAs are ours")
            if enc not in _ENC_NAMES:
                raise LocalProtocolError(f"encryption {enc!r}; known: {sorted(_ENC_NAMES)}")
            if auth not in _AUTH_NAMES:
                raise LocalProtocolError(f"authentication {auth!r}; known: {sorted(_AUTH_NAMES)}")
            out.append(SAParams.make(
                spi=int(spi, 0), src=None if src == "*" else src,
                dst=None if dst == "*" else dst, enc=_ENC_NAMES[enc],
                enc_key=_key_octets(enc_key), auth=_AUTH_NAMES[auth],
                auth_key=_key_octets(auth_key)))
        except (LocalProtocolError, ValueError) as e:
            raise LocalProtocolError(f"esp_sa line {number}: {e}") from None
    return out


def _key_octets(text: str) -> bytes:
    if text in ("", "0x"):
        return b""
    if not text.lower().startswith("0x"):
        raise ValueError(f"key {text!r} is not 0x-prefixed hex")
    return bytes.fromhex(text[2:])
