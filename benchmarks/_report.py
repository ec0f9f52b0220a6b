"""Print a measured figure next to its target, one line per figure."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def report(name: str, measured: float, target: float | None, unit: str, better: str = "lower") -> bool:
    """Print ``name: measured unit (target <= target unit) PASS/MISS`` and return whether it met the target.

    ``better`` is ``"lower"`` (times, memory) or ``"higher"`` (rates, speed-ups).
    """
    if target is None:
        print(f"{name:55s} {measured:12.4g} {unit:8s} (no target)")
        return True
    ok = measured <= target if better == "lower" else measured >= target
    sign = "<=" if better == "lower" else ">="
    print(f"{name:55s} {measured:12.4g} {unit:8s} target {sign} {target:g} {unit:8s} {'PASS' if ok else 'MISS'}")
    return ok


@contextmanager
def timer():
    """``with timer() as t: ...`` then ``t()`` gives the elapsed seconds."""
    start = time.perf_counter()
    end = None

    def elapsed():
        return (end if end is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()
