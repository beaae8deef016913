"""Shared fixtures and markers.

``pytest.mark.req("W-01", ...)`` names the REQUIREMENTS.md rows a test checks (the IDs in the
source are what ../shared/tools/reqcov reads). Oracle tests need scapy and tshark: locally they
skip when those are missing; in CI (HMIPV6_REQUIRE_ORACLES=1) a missing oracle fails the run.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import settings

REQUIRE_ORACLES = os.environ.get("HMIPV6_REQUIRE_ORACLES") == "1"

# CI replays the same hypothesis examples on every run (a fresh machine must not turn red on a
# newly drawn example, and a loaded machine must not trip deadlines); local runs explore at
# random, and ENGINE_FUZZ / MN_FUZZ run many more examples. Bugs found locally become
# explicit regression tests.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
