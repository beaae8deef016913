"""strongSwan (charon + swanctl) as an IKEv2 oracle in network namespaces, and a driver that
runs hmipv6's sans-IO IKE engines over a real UDP port 500 socket. (No tests here.)

- :func:`namespaces`: two namespaces (``hm-<pid>-ss<n>a`` / ``...b``) joined by a veth pair,
  with the given IPv6 addresses (no DAD) and on-link routes to each other's prefix.
- :class:`Charon`: ``/usr/lib/ipsec/charon`` in one namespace with its own configuration in a
  tmp dir: ``strongswan.conf`` through ``STRONGSWAN_CONF``, the vici socket in that dir
  (``swanctl --uri``), a private mount namespace with a tmpfs on ``/run`` (charon's pid file
  lives there, so runs in parallel do not collide), a file log at ike/chd level 4 (the
  derived keys are printed there), and ``fake_xfrm.so`` preloaded: this kernel has XFRM but
  no ESP, so charon's Child SA installation (XFRM_MSG_NEWSA/UPDSA) would fail and it would
  answer NO_PROPOSAL_CHOSEN; the shim turns those two requests into a no-op the kernel
  acknowledges (see ``strongswan/fake_xfrm.c``). It is always killed at the end.
- :func:`charon_keys`: the labelled key dumps of a charon log, in order.
- :class:`UdpIke`: a thread running an engine (``receive(now, data, source)``,
  ``next_timer()``, ``handle_timer(now)``) over a UDP socket in a namespace.
- :func:`capture`: dumpcap on an interface of a namespace, for the tshark checks.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.conftest import REQUIRE_ORACLES, need_root, need_tool

CHARON = "/usr/lib/ipsec/charon"
SHIM_SOURCE = Path(__file__).parent / "strongswan" / "fake_xfrm.c"
_counter = itertools.count()

PLUGINS = ("random nonce openssl pem pkcs1 pkcs8 x509 pubkey curve25519 gmp aes sha1 sha2 hmac "
           "gcm kdf kernel-netlink socket-default vici attr")


def need_strongswan(tmp: Path) -> Path:
    """Skip (or fail under HMIPV6_REQUIRE_ORACLES=1) without root, charon, swanctl or gcc;
    returns the compiled shim."""
    need_root()
    if not os.access(CHARON, os.X_OK):
        if REQUIRE_ORACLES:
            pytest.fail(f"{CHARON} is required in CI but not installed")
        pytest.skip("strongSwan's charon not installed")
    need_tool("swanctl")
    gcc = need_tool("gcc")
    shim = tmp / "fake_xfrm.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(shim), str(SHIM_SOURCE), "-ldl"],
                   check=True, capture_output=True, timeout=120)
    return shim


@dataclass
class Pair:
    a: str
    b: str
    if_a: str
    if_b: str
    addr_a: IPv6Address
    addr_b: IPv6Address


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def namespaces(addr_a: IPv6Address, addr_b: IPv6Address) -> Iterator[Pair]:
    n = next(_counter)
    base = f"hm-{os.getpid()}-ss{n}"
    p = Pair(f"{base}a", f"{base}b", f"ss{os.getpid() % 100000}x{n}a",
             f"ss{os.getpid() % 100000}x{n}b", addr_a, addr_b)
    try:
        _ip("netns", "add", p.a)
        _ip("netns", "add", p.b)
        _ip("link", "add", p.if_a, "type", "veth", "peer", "name", p.if_b)
        for ns, ifn, mine, other in ((p.a, p.if_a, addr_a, addr_b), (p.b, p.if_b, addr_b, addr_a)):
            _ip("link", "set", ifn, "netns", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{mine}/64", "dev", ifn, "nodad")
            _ip("-n", ns, "link", "set", ifn, "up")
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("-n", ns, "route", "add", f"{other}/128", "dev", ifn)
        yield p
    finally:
        for ns in (p.a, p.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


class Charon:
    """One charon in namespace ``ns`` (module docstring)."""

    def __init__(self, ns: str, tmp: Path, shim: Path, *, settings: str = "") -> None:
        self.dir = tmp
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("x509", "x509ca", "private", "pubkey", "rsa", "ecdsa", "pkcs8"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.vici = self.dir / "charon.vici"
        self.log = self.dir / "charon.log"
        self.uri = f"unix://{self.vici}"
        (self.dir / "strongswan.conf").write_text(f"""
charon {{
  load = {PLUGINS}
  install_routes = no
  install_virtual_ip = no
  retransmit_tries = 3
  retransmit_timeout = 1.0
  {settings}
  plugins {{
    vici {{ socket = {self.uri} }}
  }}
  filelog {{
    log {{
      path = {self.log}
      default = 1
      ike = 4
      chd = 4
      cfg = 2
      knl = 1
      net = 1
      enc = 1
      flush_line = yes
    }}
  }}
}}
""")
        env = {**os.environ, "STRONGSWAN_CONF": str(self.dir / "strongswan.conf"),
               "LD_PRELOAD": str(shim)}
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
             "sh", "-c", f"mount -t tmpfs tmpfs /run && exec {CHARON}"],
            env=env, stdout=(self.dir / "stdout").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 20
        while not self.vici.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"charon did not start: {(self.dir / 'stdout').read_text()}")
            time.sleep(0.05)

    def swanctl(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        res = subprocess.run(["swanctl", *args, "--uri", self.uri], capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"swanctl {' '.join(args)} failed: {res.stdout}{res.stderr}")
        return res.stdout + res.stderr

    def load(self, swanctl_conf: str) -> None:
        path = self.dir / "swanctl.conf"
        path.write_text(swanctl_conf)
        self.swanctl("--load-all", "--noprompt", "--file", str(path))

    def list_sas(self) -> str:
        return self.swanctl("--list-sas", "--raw")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, pattern: str, *, count: int = 1, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if len(re.findall(pattern, text)) >= count:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"charon log never showed {pattern!r} x{count}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


_DUMP_HEAD = re.compile(r"\[(?:IKE|CHD)\] (.+?) => (\d+) bytes @ 0x[0-9a-f]+$")
_DUMP_LINE = re.compile(r"\[(?:IKE|CHD)\]\s+\d+: ((?:[0-9A-F]{2} )*[0-9A-F]{2})")


def charon_keys(log: str) -> list[tuple[str, bytes]]:
    """Every ``label => N bytes`` dump of the log (SKEYSEED, Sk_* secrets, Child SA keys...),
    in order."""
    out: list[tuple[str, bytes]] = []
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        m = _DUMP_HEAD.search(lines[i])
        i += 1
        if m is None:
            continue
        want, data = int(m.group(2)), bytearray()
        while len(data) < want and i < len(lines):
            d = _DUMP_LINE.search(lines[i])
            if d is None:
                break
            data += bytes.fromhex(d.group(1).replace(" ", ""))
            i += 1
        out.append((m.group(1), bytes(data)))
    return out


def labelled(keys: list[tuple[str, bytes]], label: str) -> list[bytes]:
    return [v for k, v in keys if k == label]


class Engine(Protocol):
    def receive(self, now: float, data: bytes, source: IPv6Address | None = ...) -> list[bytes]: ...
    def next_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> list[bytes]: ...


class InitiatorEngine:
    """An :class:`~hmipv6.core.ike.IkeInitiator` seen as an :class:`Engine` (its ``receive``
    takes no source address)."""

    def __init__(self, ini: Any) -> None:
        self.ini = ini

    def receive(self, now: float, data: bytes, source: IPv6Address | None = None) -> list[bytes]:
        out: list[bytes] = self.ini.receive(now, data)
        return out

    def next_timer(self) -> float | None:
        t: float | None = self.ini.next_timer()
        return t

    def handle_timer(self, now: float) -> list[bytes]:
        out: list[bytes] = self.ini.handle_timer(now)
        return out


@dataclass
class UdpIke:
    """``engine`` on UDP port 500 at ``local`` in namespace ``ns``; what it sends goes to
    ``peer`` (the source of what it answers). Thread-safe through :attr:`lock`."""

    ns: str
    local: IPv6Address
    peer: IPv6Address
    engine: Any
    lock: threading.RLock = field(default_factory=threading.RLock)
    received: list[bytes] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    error: BaseException | None = None
    preface: list[bytes] = field(default_factory=list)
    """Sent just before the engine's answer to the next CREATE_CHILD_SA request received (to
    make rekey requests cross on the wire deterministically; another exchange of the peer,
    a liveness check, say, is answered as usual)."""
    hold_answer: bool = False
    """With :attr:`preface`: hold that answer back until the engine has sent its next message
    (say its Delete of the old IKE SA when it won the crossing) and the peer's next message
    (its answer to that) came in, then send it: the peer has processed the Delete by then."""
    _held: list[bytes] = field(default_factory=list)
    _held_armed: bool = False

    def __post_init__(self) -> None:
        from pyroute2 import netns as pnetns

        self.sock = pnetns.create_socket(self.ns, socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind((str(self.local), 500))
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def send(self, messages: list[bytes]) -> None:
        for m in messages:
            self.sent.append(m)
            self.sock.sendto(m, (str(self.peer), 500))

    def call(self, fn: Callable[[float], list[bytes]]) -> None:
        """Run ``fn(now)`` on the engine (under the lock) and send what it returns."""
        with self.lock:
            self.send(fn(self.now()))

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self.lock:
                    t = self.engine.next_timer()
                wait = 0.1 if t is None else max(0.0, min(0.1, t - self.now()))
                ready, _, _ = select.select([self.sock], [], [], wait)
                with self.lock:
                    if ready:
                        data, addr = self.sock.recvfrom(65535)
                        self.received.append(data)
                        release = self._held_armed
                        src = IPv6Address(addr[0].split("%")[0])
                        answer = self.engine.receive(self.now(), data, src)
                        if self.preface and _is_create_child_request(data):
                            # Our crossing request first; the answer a moment later, so
                            # charon takes the request while its own exchange is still open
                            # (a response right behind it was seen dropped by charon).
                            self.send(self.preface)
                            self.preface = []
                            if self.hold_answer:
                                self._held, answer = answer, []
                            else:
                                time.sleep(0.05)
                        self._send_out(answer)
                        if release and self._held:
                            self.send(self._held)
                            self._held, self._held_armed = [], False
                    t = self.engine.next_timer()
                    if t is not None and t <= self.now():
                        self._send_out(self.engine.handle_timer(self.now()))
        except BaseException as exc:  # surfaced by wait_for / close
            self.error = exc

    def _send_out(self, messages: list[bytes]) -> None:
        self.send(messages)
        if messages and self._held:
            self._held_armed = True  # the held answer goes once the peer answered these

    def wait_for(self, cond: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.error is not None:
                raise self.error
            with self.lock:
                if cond():
                    return
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        if self.error is not None:
            raise self.error


def _is_create_child_request(data: bytes) -> bool:
    """An IKE header with exchange type CREATE_CHILD_SA (36) and the Response flag clear
    (RFC 7296 §3.1)."""
    return len(data) >= 28 and data[18] == 36 and not data[19] & 0x20


@contextlib.contextmanager
def capture(ns: str, ifname: str, path: Path) -> Iterator[Path]:
    dumpcap = shutil.which("dumpcap") or need_tool("tshark")
    args = [dumpcap, "-q", "-i", ifname, "-w", str(path)]
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 20
    while not (path.exists() and path.stat().st_size > 0):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("capture did not start")
        time.sleep(0.05)
    time.sleep(0.3)
    try:
        yield path
    finally:
        time.sleep(0.3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def tshark_check(pcap: Path, uat: list[str]) -> list[list[str]]:
    """Per IKE packet of ``pcap``: malformed flag, expert severity, exchange type, whether it is
    encrypted, and the decryption verdict text tshark gives with ``uat`` loaded. (UDP
    checksums are not checked: the capture sees the sender's packets before the veth's
    checksum offload fills them in.)"""
    tshark = need_tool("tshark")
    opts = [a for line in uat for a in ("-o", f"uat:ikev2_decryption_table:{line}")]
    res = subprocess.run([tshark, "-n", "-r", str(pcap), "-Y", "isakmp", *opts,
                          "-T", "fields", "-E", "separator=|",
                          "-E", "occurrence=a", "-E", "aggregator=,",
                          "-e", "_ws.malformed", "-e", "_ws.expert.severity",
                          "-e", "isakmp.exchangetype", "-e", "isakmp.enc.data",
                          "-e", "isakmp.enc.decrypted", "-e", "isakmp.ispi",
                          "-e", "isakmp.messageid"],
                         capture_output=True, text=True, check=True, timeout=120)
    return [line.split("|") for line in res.stdout.splitlines()]


def tshark_verbose(pcap: Path, uat: list[str]) -> str:
    tshark = need_tool("tshark")
    opts = [a for line in uat for a in ("-o", f"uat:ikev2_decryption_table:{line}")]
    return subprocess.run([tshark, "-n", "-r", str(pcap), "-Y", "isakmp", *opts, "-V"],
                          capture_output=True, text=True, check=True, timeout=120).stdout
