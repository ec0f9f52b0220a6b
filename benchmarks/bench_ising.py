"""Ising dataset: generation times, Wolff spin-flip rate against pure Python, decorrelation at Tc.

Run from the repository root: ``python benchmarks/bench_ising.py`` (about 10 s).

Definitions
-----------
* **Spin-flip rate**: spins actually flipped per second of wall time. For Wolff that is the summed
  size of the flipped clusters; for single-spin Metropolis it is the *accepted* moves (the
  attempted moves are printed too). Both run on a 32 × 32 periodic lattice at T = Tc, starting
  from the same Wolff-equilibrated configuration; each figure is the median of 5 repeats.
* **Pure-Python Metropolis**: the textbook loop (lists of lists, ``random.random``, ``math.exp``,
  sequential sweeps), timed for a few sweeps only.
* **τ**: integrated autocorrelation time 1 + 2 Σ ρ(t) with Sokal's window (1 = independent) of
  |m| and E/N, in stored samples of the dataset and in single Wolff cluster flips.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import report, timer

from dlphys.datasets import ising

L = 32
REPEATS = 5


def python_metropolis(spins, temperature, sweeps, rand):
    """Textbook single-spin Metropolis on a list of lists; returns the number of accepted flips."""
    size = len(spins)
    accepted = 0
    for _ in range(sweeps):
        for i in range(size):
            for j in range(size):
                neighbours = spins[(i + 1) % size][j] + spins[i - 1][j] + spins[i][(j + 1) % size] + spins[i][j - 1]
                delta = 2 * spins[i][j] * neighbours
                if delta <= 0 or rand() < math.exp(-delta / temperature):
                    spins[i][j] = -spins[i][j]
                    accepted += 1
    return accepted


def equilibrated_lattice(temperature, seed=0):
    spins, _ = ising.simulate([temperature], 1, size=L, seed=seed, progress=False)
    return spins[0].copy()


def wolff_rate(temperature):
    """Median spins flipped per second by the compiled Wolff kernel (about 0.3 s per repeat)."""
    spins = equilibrated_lattice(temperature)
    threshold = ising._threshold32(-math.expm1(-2.0 / temperature))
    state = np.array([12345], dtype=np.uint64)
    queue, nbr = ising._work_arrays(L)
    clusters = max(1, int(3e7 / (ising._equilibrate(spins, temperature, 10.0, state, queue, nbr))))
    rates = []
    for _ in range(REPEATS):
        with timer() as t:
            flipped = ising._wolff_clusters(spins, clusters, threshold, state, queue, nbr)
        rates.append(flipped / t())
    return statistics.median(rates)


def numba_metropolis_rate(temperature, sweeps=300):
    spins = equilibrated_lattice(temperature)
    state = np.array([12345], dtype=np.uint64)
    _, nbr = ising._work_arrays(L)
    thr4 = ising._threshold32(math.exp(-4 / temperature))
    thr8 = ising._threshold32(math.exp(-8 / temperature))
    ising._metropolis_sweeps(spins, 1, thr4, thr8, state, nbr)
    flips, attempts = [], []
    for _ in range(REPEATS):
        with timer() as t:
            accepted = ising._metropolis_sweeps(spins, sweeps, thr4, thr8, state, nbr)
        flips.append(accepted / t())
        attempts.append(sweeps * L * L / t())
    return statistics.median(flips), statistics.median(attempts)


def python_rate(temperature, sweeps=20):
    spins = equilibrated_lattice(temperature).astype(int).tolist()
    rand = random.Random(0).random
    python_metropolis(spins, temperature, 2, rand)
    flips, attempts = [], []
    for _ in range(REPEATS):
        with timer() as t:
            accepted = python_metropolis(spins, temperature, sweeps, rand)
        flips.append(accepted / t())
        attempts.append(sweeps * L * L / t())
    return statistics.median(flips), statistics.median(attempts)


FAST_SCRIPT = """
import time
start = time.perf_counter()
from dlphys.datasets import ising
spins, T = ising.load(fast=True, refresh=True, progress=False)
print(time.perf_counter() - start, spins.shape[0])
"""


def fast_variant_seconds(numba_cache: str, data: str) -> tuple[float, int]:
    """Import + (compile or load compiled kernels) + simulate + write, in a fresh interpreter."""
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_cache, DLPHYS_DATA_DIR=data)
    out = subprocess.run([sys.executable, "-c", FAST_SCRIPT], env=env, capture_output=True, text=True, check=True)
    seconds, n = out.stdout.split()[-2:]
    return float(seconds), int(n)


def main():
    print(f"32 x 32 lattice, Tc = {ising.TC:.4f}; rates are medians of {REPEATS} repeats")
    with tempfile.TemporaryDirectory() as tmp:
        cold, n_fast = fast_variant_seconds(f"{tmp}/numba", f"{tmp}/data")
        warm, _ = fast_variant_seconds(f"{tmp}/numba", f"{tmp}/data")
        report(f"fast dataset ({n_fast} lattices), cold numba cache", cold, 5.0, "s")
        report(f"fast dataset ({n_fast} lattices), compiled kernels cached", warm, 5.0, "s")

        os.environ["DLPHYS_DATA_DIR"] = f"{tmp}/data"
        ising.simulate([2.0], 2, size=8, progress=False)  # compile (or load) the kernels first
        with timer() as t:
            spins, temps = ising.load(fast=False, refresh=True, progress=False)
        report(f"full dataset ({spins.shape[0]} lattices), build + write", t(), 60.0, "s")

    wolff = wolff_rate(ising.TC)
    py_flips, py_attempts = python_rate(ising.TC)
    nb_flips, nb_attempts = numba_metropolis_rate(ising.TC)
    report("Wolff spin flips / s at Tc", wolff, None, "1/s")
    report("pure-Python Metropolis spin flips / s at Tc", py_flips, None, "1/s")
    report("pure-Python Metropolis attempted updates / s at Tc", py_attempts, None, "1/s")
    report("numba Metropolis spin flips / s at Tc", nb_flips, None, "1/s")
    report("numba Metropolis attempted updates / s at Tc", nb_attempts, None, "1/s")
    report("speed-up: Wolff / pure-Python Metropolis, flips", wolff / py_flips, 100.0, "x", better="higher")
    report("Wolff flips / pure-Python attempted updates", wolff / py_attempts, None, "x")

    data = ising.autocorrelation_times(ising.TC, "dataset", size=L, n_measurements=5000, seed=1)
    single = ising.autocorrelation_times(ising.TC, "wolff", size=L, n_measurements=20000, seed=1)
    local = ising.autocorrelation_times(ising.TC, "metropolis", size=L, n_measurements=20000, seed=1)
    print(
        f"at Tc: {data['clusters_per_measurement']} clusters = {data['sweeps_per_measurement']:.2f} "
        f"lattice volumes flipped between stored samples; mean cluster {single['mean_cluster_size']:.0f} spins"
    )
    report("tau(|m|) of stored samples at Tc", data["tau_abs_m"], 2.0, "samples")
    report("tau(E) of stored samples at Tc", data["tau_energy"], 2.0, "samples")
    report("tau(|m|) of single Wolff cluster flips at Tc", single["tau_abs_m"], None, "clusters")
    report("tau(E) of single Wolff cluster flips at Tc", single["tau_energy"], None, "clusters")
    report("tau(|m|) Wolff in lattice volumes flipped at Tc", single["tau_abs_m_sweeps"], None, "sweeps")
    report("tau(E) Wolff in lattice volumes flipped at Tc", single["tau_energy_sweeps"], None, "sweeps")
    report("tau(|m|) Metropolis at Tc", local["tau_abs_m_sweeps"], None, "sweeps")
    report("tau(E) Metropolis at Tc", local["tau_energy_sweeps"], None, "sweeps")

    print("\nfull dataset against the exact infinite-lattice values (z = deviation / standard error;")
    print("no z within 0.3 of Tc, nor for |m| above Tc, where a 32 x 32 lattice differs by finite size):")
    print("    T     <E>/N    Onsager      z      <|m|>     Yang m0      z")
    z_energy, z_magnetization = [], []
    for temperature in np.unique(temps):
        sel = spins[temps == temperature]
        row = []
        for values, exact in (
            (ising.energy_per_spin(sel), ising.onsager_energy(temperature)),
            (ising.magnetization(sel, absolute=True), ising.onsager_magnetization(temperature)),
        ):
            tau = max(1.0, ising.integrated_autocorrelation_time(values))
            error = values.std(ddof=1) * math.sqrt(tau / values.size)
            row.append((values.mean(), exact, (values.mean() - exact) / error))
        comparable = (abs(temperature - ising.TC) > 0.3, temperature < ising.TC - 0.3)
        if comparable[0]:
            z_energy.append(abs(row[0][2]))
        if comparable[1]:
            z_magnetization.append(abs(row[1][2]))
        print(
            f"{temperature:6.3f}"
            + "".join(
                f" {m:9.5f} {e:9.5f} " + (f"{z:+7.1f} " if ok else "      - ")
                for (m, e, z), ok in zip(row, comparable, strict=False)
            )
        )
    report("max |z| of <E>/N vs Onsager, |T - Tc| > 0.3", max(z_energy), 4.0, "sigma")
    report("max |z| of <|m|> vs Yang, T < Tc - 0.3", max(z_magnetization), 4.0, "sigma")


if __name__ == "__main__":
    main()
