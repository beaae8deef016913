"""One run of a study, in whichever process executes it (a local worker or a Dask worker).

Theory of operation
-------------------
:func:`execute_run` loads the scenario from the text in the :class:`RunSpec` with its
overrides (exactly what ``hmipv6 simulate --set`` does), runs it under the spec's protocol,
and returns a plain dict (picklable, JSON-able): the run's identity, ``status`` (``ok`` or
``failed``), ``error`` (one line) and the metric rows of :func:`hmipv6.study.measures.extract`.
Nothing escapes: any exception becomes a failed result, so one bad run never stops a study.
A worker whose package differs from the coordinator's (another ``code_version``) refuses the
run, since its results would not be those the key promises.
"""

from __future__ import annotations

from typing import Any

from hmipv6.study.measures import extract
from hmipv6.study.spec import RunSpec
from hmipv6.study.store import code_version

__all__ = ["execute_run", "failed_result"]


def failed_result(spec: RunSpec, error: str) -> dict[str, Any]:
    """The result of a run that did not complete."""
    return {"key": spec.key, "point": spec.point, "protocol": spec.protocol, "seed": spec.seed,
            "status": "failed", "error": " ".join(error.split()) or "failed", "rows": []}


def execute_run(spec: RunSpec) -> dict[str, Any]:
    """Run one simulation and return its result dict (never raises)."""
    try:
        mine = code_version()
        if mine != spec.code_version:
            return failed_result(spec, f"this worker runs hmipv6 {mine}, the study was "
                                       f"started with {spec.code_version}")
        from hmipv6.sim import network
        from hmipv6.sim.scenario import loads

        sc = loads(spec.scenario_text, source=spec.scenario_source, overrides=spec.overrides)
        report = network.run(sc, protocol=spec.protocol).report
        rows = [list(r) for r in extract(report)]
        return {"key": spec.key, "point": spec.point, "protocol": spec.protocol,
                "seed": spec.seed, "status": "ok", "error": "", "rows": rows}
    except Exception as e:  # one failed run is a row in the tables, never a stopped study
        return failed_result(spec, f"{type(e).__name__}: {e}")
