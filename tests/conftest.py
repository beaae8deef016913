"""Shared fixtures and markers.

``pytest.mark.req("W-01", ...)`` names the REQUIREMENTS.md rows a test checks (the IDs in the
source are what ../shared/tools/reqcov reads). Oracle tests need scapy and tshark: locally they
skip when those are missing; in CI (HMIPV6_REQUIRE_ORACLES=1) a missing oracle fails the run.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ORACLES = os.environ.get("HMIPV6_REQUIRE_ORACLES") == "1"


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if REQUIRE_ORACLES:
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


def need_root() -> None:
    if os.geteuid() != 0:
        if REQUIRE_ORACLES:
            pytest.fail("root is required in CI for network-namespace tests")
        pytest.skip("needs root")
