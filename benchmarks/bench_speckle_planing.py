"""Generation times of the speckle, planing and sine data sets, and the simulated speckle contrast.

Each data set is built from scratch through its ``load`` (simulation + cache write) in a temporary
data directory: the full (default) variants must take at most 60 s each, the fast ones 5 s. The
speckle contrast std/mean of intensity/clean (before photon counting, fully developed region) is
printed next to its theoretical value 1/sqrt(M) for M = 1 and M = 4 coherent modes.

Run from the repository root: ``python benchmarks/bench_speckle_planing.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import report, timer

from dlphys.datasets import planing, sine, speckle

LOADERS = {
    "speckle (train)": lambda fast: speckle.load(fast=fast, refresh=True, kind="train"),
    "speckle (experimental)": lambda fast: speckle.load(fast=fast, refresh=True, kind="experimental"),
    "planing": lambda fast: planing.load(fast=fast, refresh=True),
    "sine": lambda fast: sine.load(fast=fast, refresh=True),
}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dlphys-bench-") as tmp:
        os.environ["DLPHYS_DATA_DIR"] = tmp
        for fast, target in ((False, 60.0), (True, 5.0)):
            for name, build in LOADERS.items():
                with timer() as elapsed:
                    data = build(fast)
                size = sum(a.nbytes for a in data.values()) / 2**20
                report(f"{name} {'fast' if fast else 'full'} generation ({size:.0f} MiB)", elapsed(), target, "s")
                del data

    for modes in (1, 4):
        d = speckle.simulate(500, seed=11, modes=modes, return_intensity=True)
        contrast = speckle.speckle_contrast(d["intensity"], d["clean"], speckle_size=3.0)
        expected = modes**-0.5
        report(f"speckle contrast, M = {modes} (theory {expected:g})", contrast, None, "")
        report(f"  |contrast - theory| / theory, M = {modes}", abs(contrast / expected - 1), 0.03, "")


if __name__ == "__main__":
    main()
