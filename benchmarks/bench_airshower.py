"""Air-shower footprints: simulation speed and the classical reconstruction's resolutions.

Run from the repository root: ``python benchmarks/bench_airshower.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import report, timer

from dlphys.datasets import airshower
from dlphys.reco import airshower as reco

N_RECO = 2_000


def main() -> None:
    with timer() as t:
        airshower.simulate(airshower.N_FULL, seed=0)
    report(f"simulate {airshower.N_FULL:,} events", t(), 30.0, "s")

    with tempfile.TemporaryDirectory() as tmp:  # the fast data set, simulated and cached from scratch
        os.environ["DLPHYS_DATA_DIR"] = tmp
        with timer() as t:
            airshower.load(fast=True, refresh=True)
        report(f"load(fast=True), {airshower.N_FAST:,} events, uncached", t(), 5.0, "s")

    events = airshower.simulate(N_RECO, seed=12345)
    with timer() as t:
        result = reco.reconstruct(events, progress=False)
    report(f"classical reconstruction of {N_RECO:,} events", t(), None, "s")
    res = reco.resolution(events, result)
    report("reconstructed fraction", res["fraction_ok"], None, "")
    report("angular resolution (68 % quantile)", res["angle_68"], None, "deg")
    report("core resolution (68 % quantile)", res["core_68"], None, "m")
    report("energy resolution (std of E_rec/E_true - 1)", 100 * res["energy_std"], None, "%")
    report("energy resolution (68 % quantile of |dE/E|)", 100 * res["energy_68"], None, "%")
    report("energy bias (mean of dlog10 E)", res["dlogE_mean"], None, "dex")


if __name__ == "__main__":
    main()
