"""Trusted checks of Exercise 19.2 — refinement and unfolding of a smeared spectrum (10 points).

The judge rebuilds the notebook's samples from its parameters (``SEED``, ``N_SIM``, ``N_DATA``) and unfolds them
itself. It

- calls ``response_matrix`` on events it draws (a flat spectrum through the detector) and compares with its own
  normalised ``np.histogram2d``; recomputes ``eddington`` from the data;
- calls ``neural_reweight`` on two Gaussian samples it draws (means 19.0 and 19.15, width 0.3, 100,000 events
  each; the first with per-event weights e^{a(x − 19)} that shift it): the new weights must follow the exact
  density ratio, rms below 10 % for |x − 19| < 0.5 (measured 2–4 %; ignoring the weights is off by ~15 %);
  compares ``w_refine`` with the exact refinement weights (``spectrum.refinement_weight``), the page's criterion;
- calls ``ibu`` on counts, a response and a prior it draws, against its own (relative 1e-8); recomputes
  ``unfolded`` exactly and ``unfolded_error`` with its own bootstrap (within a factor 1.6 in the median);
- calls ``binned_reweight`` on samples and bins it draws, against its own; calls ``omnifold`` with a binned step
  built from the student's ``binned_reweight`` and compares the unfolded counts with its own IBU (relative 1e-8);
  recomputes ``omnifold_neural`` from ``nu_neural`` and applies the page's criterion against its IBU.
"""

import numpy as np
from scipy.stats import norm

from dlphys.course.checks import Exercise, array
from dlphys.datasets import spectrum

N_GAUSS = 100_000
GAUSS_MEANS, GAUSS_WIDTH, GAUSS_SLOPE = (19.0, 19.15), 0.3, -0.05 / 0.09
# the page's criteria (measured with three seeds: refinement rms 0.053–0.085 fast, 0.009–0.012 full; neural
# OmniFold against IBU at iteration 1 within 4.4 % fast, 1.6 % full)
REFINE_FAST, REFINE_FULL = 0.15, 0.04
NEURAL_FAST, NEURAL_FULL = 0.08, 0.04

exercise = Exercise(
    "19_2_unfolding_spectrum",
    collect={
        "response": "response_matrix(inputs['truth'], inputs['reco'])",
        "eddington": "np.where(np.isnan(eddington), -1.0, eddington)",  # NaN (empty bins) comes back as −1
        "gauss": "neural_reweight(inputs['g_from'], inputs['g_w_from'], inputs['g_to'], inputs['g_w_to'], 7)",
        "w_refine": "w_refine",
        "ibu": "ibu(inputs['counts'], inputs['matrix'], inputs['prior'], 3)",
        "unfolded": "unfolded",
        "unfolded_error": "unfolded_error",
        "binned": (
            "binned_reweight(inputs['b_from'], inputs['b_w_from'], inputs['b_to'], inputs['b_w_to'], inputs['bins'])"
        ),
        "omnifold_binned_pushes": (
            "omnifold(lambda xf, wf, xt, wt, level: binned_reweight(xf, wf, xt, wt, reco_bins if level == 'reco' "
            "else truth_bins), 2)"
        ),
        "omnifold_binned": "omnifold_binned",
        "omnifold_neural": "omnifold_neural",
        "nu_neural": "nu_neural",
    },
)

TRUTH_BINS = np.linspace(spectrum.T_MIN, spectrum.T_MAX, 21)
RECO_BINS = np.concatenate([[16.0], TRUTH_BINS, [22.0]])


def samples(params) -> tuple[dict, dict]:
    """The notebook's simulation and data, made as its given cell makes them."""
    seed = params["SEED"]
    return (
        spectrum.simulate(params["N_SIM"], "simulation", seed=seed),
        spectrum.simulate(params["N_DATA"], "data", seed=seed + 1),
    )


def response_matrix(truth, reco) -> np.ndarray:
    counts, _, _ = np.histogram2d(reco, truth, bins=(RECO_BINS, TRUTH_BINS))
    return counts / counts.sum(axis=0, keepdims=True)


def ibu(counts, response, prior, iterations) -> np.ndarray:
    """D'Agostini's iterations (iterations, n_truth) without efficiency correction."""
    estimate, out = np.asarray(prior, dtype=float), []
    for _ in range(iterations):
        folded = response @ estimate
        estimate = estimate * (response.T @ np.divide(counts, folded, out=np.zeros_like(folded), where=folded > 0))
        out.append(estimate)
    return np.array(out)


def binned_reweight(x_from, w_from, x_to, w_to, bins) -> np.ndarray:
    total_from = np.histogram(x_from, bins, weights=w_from)[0]
    total_to = np.histogram(x_to, bins, weights=w_to)[0]
    ratio = np.divide(total_to, total_from, out=np.zeros_like(total_to), where=total_from > 0)
    return w_from * ratio[np.clip(np.digitize(x_from, bins) - 1, 0, len(bins) - 2)]


def gaussian_expectation(x_from, total) -> np.ndarray:
    """The weights neural_reweight should return on the Gaussian problem: the density ratio, summing to total."""
    ratio = norm.pdf(x_from, GAUSS_MEANS[1], GAUSS_WIDTH) / norm.pdf(x_from, GAUSS_MEANS[0], GAUSS_WIDTH)
    return ratio * total / ratio.sum()


@exercise.inputs
def fresh(ctx):
    rng, p = ctx.rng, ctx.params
    truth = rng.uniform(spectrum.T_MIN, spectrum.T_MAX, 20_000)  # a flat spectrum: no truth bin is empty
    sim, data = samples(p)
    g_from = rng.normal(GAUSS_MEANS[0], GAUSS_WIDTH, N_GAUSS)
    matrix = rng.uniform(0, 1, (8, 6)) + 3 * np.eye(8, 6)
    b_bins = np.concatenate([[17.9], np.sort(rng.uniform(18.0, 20.0, 7)), [20.1]])  # contain every event, as stated
    sent = {
        "truth": truth,
        "reco": truth + spectrum.bias(truth) + spectrum.resolution(truth) * rng.standard_normal(len(truth)),
        "g_from": g_from,
        "g_w_from": np.exp(GAUSS_SLOPE * (g_from - 19.0)),
        "g_to": rng.normal(GAUSS_MEANS[1], GAUSS_WIDTH, N_GAUSS),
        "g_w_to": np.ones(N_GAUSS),
        "counts": rng.poisson(500, 8).astype(float),
        "matrix": matrix / matrix.sum(axis=0),
        "prior": rng.uniform(100, 900, 6),
        "b_from": rng.uniform(18.0, 20.0, 5000),
        "b_w_from": rng.uniform(0.5, 2.0, 5000),
        "b_to": rng.uniform(18.0, 20.0, 3000),
        "b_w_to": rng.uniform(0.5, 2.0, 3000),
        "bins": b_bins,
    }
    response = response_matrix(sim["truth"], sim["reco"])
    counts = np.histogram(data["reco"], RECO_BINS)[0].astype(float)
    prior = np.histogram(sim["truth"], TRUTH_BINS)[0] * p["N_DATA"] / p["N_SIM"]
    bootstrap = [ibu(rng.poisson(counts).astype(float), response, prior, p["ITERATIONS"])[-1] for _ in range(50)]
    kept = {
        "sim": sim,
        "data": data,
        "counts": counts,
        "unfolded": ibu(counts, response, prior, p["ITERATIONS"]),
        "unfolded_error": np.std(bootstrap, axis=0),
        "true_counts": np.histogram(data["truth"], TRUTH_BINS)[0].astype(float),
    }
    return sent, kept


@exercise.check(task="1", points=1)
def response_matrix_counts_migrations(r, ctx):
    got = array(r["response"], (22, 20), "response_matrix(truth, reco)")
    reference = response_matrix(ctx.sent["truth"], ctx.sent["reco"])
    assert np.allclose(got, reference, atol=1e-9), (
        "expected response_matrix = P(reco bin | truth bin) on events it drew, reco_bins as rows, truth_bins as columns"
    )


@exercise.check(task="1", points=1)
def eddington_is_measured_over_true(r, ctx):
    got = array(r["eddington"], (20,), "eddington")
    true_counts = ctx.kept["true_counts"]
    filled = true_counts > 0
    reference = ctx.kept["counts"][1:-1][filled] / true_counts[filled]
    assert np.allclose(got[filled], reference, rtol=1e-9), "expected eddington = data_counts[1:-1] / true_counts"
    assert np.all(got[~filled] == -1.0), "expected eddington = NaN in bins without true events"


@exercise.check(task="2", points=2)
def neural_reweight_learns_the_density_ratio_of_weighted_samples(r, ctx):
    x = ctx.sent["g_from"]
    got = array(r["gauss"], x.shape, "neural_reweight(...) on two Gaussian samples")
    expected = gaussian_expectation(x, ctx.sent["g_w_to"].sum())
    bulk = np.abs(x - 19.0) < 0.5
    rms = float(np.sqrt(np.mean((got[bulk] / expected[bulk] - 1) ** 2)))
    assert rms < 0.1, (
        "expected neural_reweight to return the weights that make the weighted first sample look like the second "
        f"(a Gaussian density ratio), rms within 10 % in the bulk; yours are off by {rms:.1%} rms"
    )


@exercise.check(task="2", points=1)
def refinement_weights_follow_the_exact_ones(r, ctx):
    p, sim = ctx.params, ctx.kept["sim"]
    weights = array(r["w_refine"], (p["N_SIM"],), "w_refine")
    bulk = (sim["reco"] > 18.3) & (sim["reco"] < 19.6)
    exact = spectrum.refinement_weight(sim["reco"][bulk]) * p["N_DATA"] / p["N_SIM"]
    rms = float(np.sqrt(np.mean((weights[bulk] / exact - 1) ** 2)))
    limit = REFINE_FAST if ctx.fast else REFINE_FULL
    assert rms < limit, f"expected w_refine within {limit:.0%} rms of the exact refinement weights; yours {rms:.1%}"


@exercise.check(task="3", points=1)
def ibu_is_dagostinis_iteration(r, ctx):
    s = ctx.sent
    got = array(r["ibu"], (3, 6), "ibu(counts, response, prior, 3)")
    assert np.allclose(got, ibu(s["counts"], s["matrix"], s["prior"], 3), rtol=1e-8), (
        "expected ibu to return D'Agostini's first three iterations on counts, a response and a prior it drew"
    )


@exercise.check(task="3", points=1)
def unfolded_data_and_errors(r, ctx):
    reference, error = ctx.kept["unfolded"], ctx.kept["unfolded_error"]
    got = array(r["unfolded"], reference.shape, "unfolded")
    assert np.allclose(got, reference, rtol=1e-8), "expected unfolded = ibu(data_counts, response, prior, ITERATIONS)"
    got_error = array(r["unfolded_error"], error.shape, "unfolded_error")
    populated = ctx.kept["true_counts"] >= 400
    ratio = float(np.median(got_error[populated] / error[populated]))
    assert 1 / 1.6 < ratio < 1.6, (
        f"expected bootstrap errors of the size the grader's own bootstrap gives; yours are {ratio:.2f} times them"
    )


@exercise.check(task="4", points=1)
def binned_reweight_is_the_ratio_of_histograms(r, ctx):
    s = ctx.sent
    got = array(r["binned"], s["b_from"].shape, "binned_reweight(...)")
    reference = binned_reweight(s["b_from"], s["b_w_from"], s["b_to"], s["b_w_to"], s["bins"])
    assert np.allclose(got, reference, rtol=1e-9), "expected binned_reweight on samples and bins it drew as defined"


@exercise.check(task="4", points=1)
def binned_omnifold_is_ibu(r, ctx):
    sim = ctx.kept["sim"]
    pushes = array(r["omnifold_binned_pushes"], (2, len(sim["truth"])), "omnifold(binned step, 2)")
    counts = np.array([np.histogram(sim["truth"], TRUTH_BINS, weights=nu)[0] for nu in pushes])
    assert np.allclose(counts, ctx.kept["unfolded"][:2], rtol=1e-8), (
        "expected omnifold with a binned step (made from your binned_reweight) to give IBU's counts, iteration by "
        "iteration"
    )
    reported = array(r["omnifold_binned"], ctx.kept["unfolded"].shape, "omnifold_binned")
    assert np.allclose(reported, ctx.kept["unfolded"], rtol=1e-8), "expected omnifold_binned = IBU's counts"


@exercise.check(task="4", points=1)
def neural_omnifold_follows_ibu(r, ctx):
    sim, reference = ctx.kept["sim"], ctx.kept["unfolded"]
    nu = array(r["nu_neural"], (reference.shape[0], len(sim["truth"])), "nu_neural")
    counts = np.array([np.histogram(sim["truth"], TRUTH_BINS, weights=w)[0] for w in nu])
    reported = array(r["omnifold_neural"], reference.shape, "omnifold_neural")
    assert np.allclose(reported, counts, rtol=1e-6), "expected omnifold_neural = histograms of sim_truth with nu_neural"
    dense = reference[0] >= 2000
    worst = float(np.max(np.abs(counts[0][dense] / reference[0][dense] - 1)))
    limit = NEURAL_FAST if ctx.fast else NEURAL_FULL
    assert worst < limit, (
        f"expected neural OmniFold within {limit:.0%} of IBU at iteration 1 in bins with ≥ 2000 events; yours is "
        f"{worst:.1%} off at the worst"
    )
