"""The W-10/W-11 robustness campaign at full size: 1,000,000 inputs (CI runs >100,000).

Every truncation and single-octet mutation of every golden vector, then random octets, each
checked by the invariant of ``tests/wire/fuzzing.py``: decode returns a value that re-encodes
to the same octets, or raises DecodeError; never another exception.

    python bench/fuzz_codecs.py [--cases 1000000] [--seed 4140]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tests.wire.fuzzing import Outcome, cases, check, golden_vectors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=4140)
    args = ap.parse_args()
    vectors = golden_vectors()
    outcome = Outcome()
    start = time.perf_counter()
    n = 0
    for data in cases(vectors, random.Random(args.seed), values_per_byte=256,
                      random_inputs=args.cases):  # random octets fill up to --cases
        check(data, outcome)
        n += 1
        if n >= args.cases:
            break
    dt = time.perf_counter() - start
    print(f"{len(vectors)} golden vectors, {n:,} inputs in {dt:.1f} s ({n / dt:,.0f}/s): "
          f"{outcome.decoded:,} decoded and re-encoded exactly, {outcome.rejected:,} DecodeError, "
          f"0 other exceptions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
