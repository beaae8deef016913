"""Real applications in a testbed run: commands started in a node's namespace at a time.

Theory of operation
-------------------
An :class:`App` is a command line (``ping -6 ...``, ``iperf3 -c ... -J``, a Python script)
to run in one node's network namespace, ``at`` seconds after the run's origin. The launcher
(:func:`hmipv6.net.testbed.run`) starts it then through ``ip netns exec``, its standard
output in ``<out>/apps/<name>.out`` and its standard error in ``<name>.err``. At the end of
the run every command still running gets SIGINT (``ping`` and ``iperf3`` print their summary
on it), then SIGKILL two seconds later; each command's exit status is kept.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["App", "AppRunner"]

GRACE = 2.0
"""Seconds a command has to exit after SIGINT at the end of the run."""


@dataclass(frozen=True, slots=True)
class App:
    name: str
    """Output file stem (unique in the run)."""
    node: str
    at: float
    argv: tuple[str, ...]


@dataclass
class AppResult:
    app: App
    stdout: Path
    stderr: Path
    returncode: int | None = None
    stopped: bool = False
    """Still running at the end of the run (sent SIGINT)."""


@dataclass
class AppRunner:
    out: Path
    namespace: dict[str, str]
    results: dict[str, AppResult] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, app: App) -> None:
        d = self.out / "apps"
        d.mkdir(parents=True, exist_ok=True)
        res = AppResult(app, d / f"{app.name}.out", d / f"{app.name}.err")
        self.results[app.name] = res
        with res.stdout.open("wb") as so, res.stderr.open("wb") as se:
            self._procs[app.name] = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace[app.node], *app.argv],
                stdin=subprocess.DEVNULL, stdout=so, stderr=se)

    def finish(self) -> None:
        """Interrupt what still runs, wait for everything (module docstring)."""
        for name, p in self._procs.items():
            if p.poll() is None:
                self.results[name].stopped = True
                p.send_signal(signal.SIGINT)
        for name, p in self._procs.items():
            try:
                p.wait(timeout=GRACE)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self.results[name].returncode = p.returncode
