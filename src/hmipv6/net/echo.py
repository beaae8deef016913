"""A TCP echo session, the stand-in for an ``ssh`` login across a handover.

``python3 -m hmipv6.net.echo server [PORT]`` accepts one connection on ``[::]:PORT`` (default
7007) and echoes everything back until the client closes. ``python3 -m hmipv6.net.echo client
ADDRESS SECONDS [PORT] [INTERVAL]`` connects once and, every INTERVAL (default 20 ms) for
SECONDS, sends a numbered line and waits for its echo; at the end (or on SIGINT, or when the
connection breaks) it prints one JSON object::

    {"tool": "echo", "sent": N, "echoed": N, "error": null | "ConnectionResetError(...)",
     "max_wait": seconds, "waits": [[t, seconds], ...]}

``max_wait`` is the longest time one line waited for its echo (the handover's stall as the
application saw it), ``waits`` every wait longer than five intervals, ``t`` being seconds
since the connection opened. Exit status 0 when every line came back on the one connection.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time

__all__ = ["client", "main", "server"]

PORT = 7007


def server(port: int = PORT) -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        s.listen(1)
        c, _ = s.accept()
        with c:
            while data := c.recv(4096):
                c.sendall(data)
    return 0


class _Stop(Exception):
    pass


def client(address: str, seconds: float, port: int = PORT, interval: float = 0.02) -> int:
    def stop(*_: object) -> None:
        raise _Stop

    signal.signal(signal.SIGINT, stop)
    sent = echoed = 0
    error: str | None = None
    max_wait = 0.0
    waits: list[list[float]] = []
    try:
        c = socket.create_connection((address, port), timeout=60)
    except OSError as e:
        print(json.dumps({"tool": "echo", "sent": 0, "echoed": 0, "error": repr(e),
                          "max_wait": None, "waits": []}))
        return 1
    t0 = time.monotonic()
    try:
        with c:
            while time.monotonic() - t0 < seconds:
                line = f"{sent:010d}\n".encode()
                at = time.monotonic()
                c.sendall(line)
                sent += 1
                got = b""
                while len(got) < len(line):
                    more = c.recv(len(line) - len(got))
                    if not more:
                        raise ConnectionResetError("closed by the peer")
                    got += more
                wait = time.monotonic() - at
                max_wait = max(max_wait, wait)
                if wait > 5 * interval:
                    waits.append([round(at - t0, 3), round(wait, 4)])
                echoed += got == line
                time.sleep(max(interval - wait, 0.0))
    except _Stop:
        pass
    except OSError as e:
        error = repr(e)
    print(json.dumps({"tool": "echo", "sent": sent, "echoed": echoed, "error": error,
                      "max_wait": round(max_wait, 4), "waits": waits}))
    return 0 if error is None and echoed == sent else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["server"] and len(argv) <= 2:
        return server(int(argv[1]) if len(argv) > 1 else PORT)
    if argv[:1] == ["client"] and 3 <= len(argv) <= 5:
        return client(argv[1], float(argv[2]), int(argv[3]) if len(argv) > 3 else PORT,
                      float(argv[4]) if len(argv) > 4 else 0.02)
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
