"""IKEv2 (RFC 7296) for the MN–MAP security association: RFC 5380 §12.1 (X5380-05), the key
establishment RFC 4140 §12.1 leaves to IKE (SEC-06).

- :mod:`.message`: the wire codec (header, payloads, SK kept opaque); typed
  :class:`~hmipv6.errors.DecodeError` for bad input.
- :mod:`.crypto`: prf / prf+, DH groups 19 and 14, SKEYSEED and KEYMAT, SK sealing, PSK AUTH.
- :mod:`.exchange`: sans-IO :class:`IkeInitiator` (MN) / :class:`IkeResponder` (MAP) running
  IKE_SA_INIT + IKE_AUTH and installing the ESP Child SA into :class:`~hmipv6.core.ipsec.IPsec`.
- :mod:`.transport`: IKE messages in UDP port 500 datagrams (:mod:`hmipv6.wire.udp`) and a
  loop that runs an exchange between two endpoints.
- :mod:`.engines`: :class:`~.engines.IkeMobilityAnchorPoint`, a MAP answering IKE on UDP 500.
- :mod:`.client`: :class:`~.client.IkeClient`, the mobile node's initiators (one per MAP),
  composed into ``MobileNode`` (``ike=``); Wireshark ``esp_sa`` / ``ikev2_decryption_table``
  lines for what it negotiated.

Randomness comes only from the ``random.Random`` handed in; real deployments hand in
``random.SystemRandom()``.
"""

from __future__ import annotations

from hmipv6.core.ike.exchange import (
    ChildSA,
    Established,
    Failed,
    IkeInitiator,
    IkeResponder,
    Outcome,
    RcoaRefused,
    id_payload,
)
from hmipv6.core.ike.message import IKE_PORT, NotifyType

__all__ = [
    "IKE_PORT",
    "ChildSA",
    "Established",
    "Failed",
    "IkeInitiator",
    "IkeResponder",
    "NotifyType",
    "Outcome",
    "RcoaRefused",
    "id_payload",
]
