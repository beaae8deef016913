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
caller (``hmipv6 ... --export-sa FILE``): ``core`` does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from hmipv6.core.ipsec.sad import SAParams, Selector

__all__ = ["WIRESHARK_AUTH", "WIRESHARK_ENC", "esp_sa_line", "esp_sa_table"]

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
