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
# A minimal Debian 12 image has no pip.
if ! python3 -m pip --version >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
fi
# strongSwan (charon + swanctl, the IKEv2 oracle of tests/net/test_strongswan.py) and a C
# compiler for its test-only XFRM shim (tests/net/strongswan/fake_xfrm.c).
if [ ! -x /usr/lib/ipsec/charon ] || ! command -v swanctl >/dev/null 2>&1 \
    || ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strongswan-charon strongswan-swanctl \
      libstrongswan-standard-plugins libstrongswan-extra-plugins gcc libc6-dev >/dev/null
  else
    echo "note: strongSwan/gcc missing and not root: the strongSwan oracle tests will be skipped" >&2
  fi
fi
# Debian's own python3 is "externally managed" (PEP 668); this is a disposable test machine.
export PIP_BREAK_SYSTEM_PACKAGES=1
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m ruff check src tests bench
python3 -m mypy
python3 -m pytest -q "$@"
