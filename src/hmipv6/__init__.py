"""hmipv6: Hierarchical Mobile IPv6 (RFC 4140, with an RFC 5380 profile).

Layers (imports point downwards only): ``cli`` -> ``sim`` / ``net`` -> ``core`` -> ``wire``.
"""

__version__ = "0.1.0"
