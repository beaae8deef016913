"""The robustness invariant shared by the fuzz tests and ``bench/fuzz_codecs.py`` (W-10, W-11).

For any octets: ``decode`` returns a value or raises the project's :class:`DecodeError`, never
another exception and never a hang; when it returns with checksums verified, encoding the
value gives back exactly the same octets.
"""

from __future__ import annotations

import importlib
import pathlib
import random
from collections.abc import Iterator

from hmipv6.errors import DecodeError
from hmipv6.wire import decode

HERE = pathlib.Path(__file__).parent


def golden_vectors() -> dict[str, bytes]:
    """Every golden packet of every ``tests/wire/vectors_*.py`` module (hex strings or bytes
    in any module-level dict, or module-level ``*_HEX`` strings)."""
    out: dict[str, bytes] = {}
    for path in sorted(HERE.glob("vectors_*.py")):
        mod = importlib.import_module(f"tests.wire.{path.stem}")
        for attr, value in sorted(vars(mod).items()):
            if attr.startswith("_"):
                continue
            items: list[tuple[str, object]] = []
            if isinstance(value, dict):
                items = [(f"{path.stem}.{attr}.{k}", v) for k, v in value.items()]
            elif isinstance(value, str | bytes) and attr.isupper():
                items = [(f"{path.stem}.{attr}", value)]
            for name, v in items:
                raw: bytes | None = None
                if isinstance(v, bytes):
                    raw = v
                elif isinstance(v, str):
                    try:
                        raw = bytes.fromhex(v)
                    except ValueError:
                        raw = None
                if raw and len(raw) >= 40 and raw[0] >> 4 == 6:
                    out[name] = raw
    return out


class Outcome:
    __slots__ = ("decoded", "rejected")

    def __init__(self) -> None:
        self.decoded = 0
        self.rejected = 0


def check(data: bytes, outcome: Outcome) -> None:
    """Apply the invariant to one input; raises AssertionError (with the input) on violation."""
    try:
        value = decode(data)
    except DecodeError as exc:
        assert exc.field and exc.offset >= 0, (data.hex(), exc)
        outcome.rejected += 1
        return
    except Exception as exc:  # the very thing this harness exists to catch
        raise AssertionError(f"{type(exc).__name__} for input {data.hex()}: {exc}") from exc
    again = value.encode()
    assert again == data, f"re-encoding differs for input {data.hex()}\n  got {again.hex()}"
    outcome.decoded += 1


def cases(vectors: dict[str, bytes], rng: random.Random, *, values_per_byte: int,
          random_inputs: int) -> Iterator[bytes]:
    """Every truncation and, per octet, ``values_per_byte`` replacement values (the 8 single-bit
    flips first, then random values) of every vector; then random octets (some behind a valid
    IPv6 header so the inner decoders are reached)."""
    for raw in vectors.values():
        for n in range(len(raw)):
            yield raw[:n]
        for i in range(len(raw)):
            b = raw[i]
            seen = {b}
            for k in range(values_per_byte):
                v = b ^ (1 << k) if k < 8 else rng.randrange(256)
                if v in seen:
                    continue
                seen.add(v)
                yield raw[:i] + bytes((v,)) + raw[i + 1:]
    heads = [raw[:40] for raw in vectors.values()] or [bytes(40)]
    for _ in range(random_inputs):
        body = rng.randbytes(rng.randrange(0, 120))
        if rng.random() < 0.7:
            head = bytearray(rng.choice(heads))
            head[4:6] = len(body).to_bytes(2, "big")
            yield bytes(head) + body
        else:
            yield body
