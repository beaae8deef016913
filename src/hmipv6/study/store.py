"""Finished runs kept on disk, so an interrupted study continues where it stopped.

Theory of operation
-------------------
A run's key is the SHA-256 of its inputs: the base scenario's text, the ``--set`` overrides
(the study's fixed ones, the point's, ``scenario.seed=N``), the protocol, the seed and the
code version: ``hmipv6`` ``__version__`` plus a hash of every ``.py`` and ``.toml`` file of
the package (:func:`code_version`), so any change of the simulator invalidates earlier
results. Each finished run is one JSON file ``<dir>/<key>.json`` written atomically (a
temporary file renamed over it), so an interrupted write never leaves half a result.
Only successful runs are reused: a failed run is tried again next time (its failure may have
been a killed worker; a deterministic failure fails again, quickly).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import hmipv6

__all__ = ["RunStore", "code_version", "run_key"]

_KEY_HEX = 32


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<version>+<16 hex digits of the package sources' hash>``."""
    root = Path(hmipv6.__file__).parent
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml") and p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return f"{hmipv6.__version__}+{h.hexdigest()[:16]}"


def run_key(scenario_text: str, overrides: tuple[str, ...], protocol: str, seed: int,
            code: str) -> str:
    """The hex key of a run's result."""
    blob = json.dumps({"scenario": scenario_text, "overrides": list(overrides),
                       "protocol": protocol, "seed": seed, "code": code},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:_KEY_HEX]


class RunStore:
    """The results of finished runs under one directory, one JSON file each."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored successful result of ``key``, or ``None``."""
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or data.get("status") != "ok":
            return None
        return data

    def save(self, result: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(str(result["key"]))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, allow_nan=True, separators=(",", ":")) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
