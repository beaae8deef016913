#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine (as root), then runs it:
# lint (ruff), types (mypy --strict), and every test, including the scapy/tshark oracle tests
# and the network-namespace tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tshark >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1 \
    || ! command -v iperf3 >/dev/null 2>&1 || ! command -v ping >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark iproute2 iperf3 iputils-ping >/dev/null
  else
    echo "note: tshark/iproute2/iperf3/ping missing and not root: oracle/netns tests will be skipped" >&2
  fi
fi
# Debian's own python3 is "externally managed" (PEP 668); this is a disposable test machine.
export PIP_BREAK_SYSTEM_PACKAGES=1
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m ruff check src tests bench
python3 -m mypy
python3 -m pytest -q "$@"
