"""Trusted checks of Exercise 13.2 — an Ising thermometer against the exact posterior (10 points).

The judge has the exact answer for every lattice: ``ising.temperature_posterior`` with the flat prior of the page
on its own grid. It

- calls ``energy_std`` at temperatures it draws and compares with σ_E from its own second difference of
  ``ising.log_partition_function`` (relative 1e-3; the step the page suggests is accurate to 1e-5);
- regenerates the notebook's test lattices from the given cell (``SEED``, ``N_CHAINS``, ``N_TEST_CHAINS``) and
  compares ``exact`` with its own posterior of them;
- calls ``gaussian_nll`` on (T, μ, ln σ) it draws, against the formula of the page;
- runs the saved ``model`` (in a clean sandbox, never the student's code) on fresh lattices it simulates itself
  (``N_FRESH`` temperatures drawn uniformly in [1.5, 3.5] J/k_B with the grader's seed, 10 lattices each; they never
  enter the student's sandbox) and applies the page's criteria of (3) and (5) to its (μ, exp(ln σ)) against their
  exact posterior (fast mode, in which grading runs: σ ratio in [0.75, 1.35], rms offset < 0.7, NLL gap at most
  0.3 nats above the best Gaussian head's; full mode: [0.9, 1.15], 0.35, 0.07);
- runs the saved ``model`` on its copy of the test lattices, requires the student's ``predict`` to return its
  (μ, exp(ln σ)) there, and recomputes ``sigma_ratio``, ``mean_offset``, the coverages and the NLLs the notebook
  reports from those outputs and its own posterior. A ``predict`` that returns anything but the network (the exact
  posterior, say) earns nothing;
- requires the network's error bars to be honest on the fresh lattices: μ ± σ and μ ± 1.96 σ hold the truth for
  0.683 and 0.95 of them, within the page's tolerance of (4) (0.12 and 0.06 in fast mode, 0.05 and 0.025 in full).

What it cannot see is how the network was trained: a network fitted to the exact posterior's (μ, ln σ) instead of
by the Gaussian likelihood of the true temperatures, or one whose weights were set by hand to compute the energy and
look up the posterior, gives the same outputs. That is for the instructor to read in the code.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import ising

N_FRESH = 60  # fresh temperatures for the saved model, 10 lattices each


exercise = Exercise(
    "13_2_ising_thermometer",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "model_fresh": ("model", lambda r, ctx: ctx.kept["fresh_spins"]),  # never sent into the student's sandbox
        "model_test": ("model", lambda r, ctx: ctx.sent["spins_test"].astype("float32")),
    },
    collect={
        "energy_std": "energy_std(inputs['T'])",
        "exact_mean": "exact['mean']",
        "exact_std": "exact['std']",
        "nll": "keras.ops.convert_to_numpy(gaussian_nll(inputs['y_true'], inputs['y_pred']))",
        "test": "predict(inputs['spins_test'])",
        "sigma_ratio": "sigma_ratio",
        "mean_offset": "mean_offset",
        "coverage": "{str(k): v for k, v in coverage.items()}",
        "coverage_exact": "{str(k): v for k, v in coverage_exact.items()}",
        "nll_net": "nll_net",
        "nll_exact": "nll_exact",
        "nll_gap": "nll_gap",
        "nll_floor": "nll_floor",
    },
)


def _grid(params) -> np.ndarray:
    return np.linspace(params["T_MIN"], params["T_MAX"], 2001)


def _test_lattices(params):
    """The notebook's test lattices and temperatures, made as its given cell makes them."""
    rng = np.random.default_rng(params["SEED"])
    rng.uniform(params["T_MIN"], params["T_MAX"], params["N_CHAINS"])  # the training temperatures come first
    temperatures = rng.uniform(params["T_MIN"], params["T_MAX"], params["N_TEST_CHAINS"])
    return ising.simulate(temperatures, 10, size=params["SIZE"], seed=params["SEED"] + 1, progress=False)


def energy_std(temperature, size):
    """σ_E (J) of the total energy from Var(E) = ∂² ln Z/∂β² (second difference with a step of 1e-4 β)."""
    beta = 1.0 / np.asarray(temperature, dtype=float)
    h = 1e-4 * beta
    log_z = [ising.log_partition_function(1.0 / (beta + k * h), size) for k in (-1, 0, 1)]
    return np.sqrt((log_z[0] - 2 * log_z[1] + log_z[2]) / h**2)


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    p = ctx.params
    spins, temperatures = ising.simulate(
        rng.uniform(p["T_MIN"], p["T_MAX"], N_FRESH), 10, size=p["SIZE"], seed=int(rng.integers(2**31)), progress=False
    )
    spins_test, T_test = _test_lattices(p)
    sent = {
        "T": rng.uniform(p["T_MIN"], p["T_MAX"], 5),
        "y_true": rng.uniform(1.5, 3.5, (7, 1)).astype("float32"),
        "y_pred": np.column_stack([rng.uniform(1.5, 3.5, 7), rng.uniform(-4.0, 0.0, 7)]).astype("float32"),
        "spins_test": spins_test,
    }
    grid = _grid(p)
    kept = {
        "fresh_spins": np.asarray(spins, dtype="float32"),
        "fresh_T": temperatures,
        "fresh_posterior": ising.temperature_posterior(spins, grid),
        "T_test": T_test,
        "test_posterior": ising.temperature_posterior(spins_test, grid),
        "grid": grid,
    }
    return sent, kept


def _predicted(value, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    # a pair of arrays of one shape comes back as one array (2, n)
    assert len(value) == 2, f"expected {name} to return the pair (mu, sigma)"
    mu, sigma = array(value[0], (n,), f"mu of {name}"), array(value[1], (n,), f"sigma of {name}")
    assert np.all(np.isfinite(mu)) and np.all(sigma > 0), f"expected finite mu and positive sigma from {name}"
    return mu, sigma


def _network(value, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ) of the saved model's output (n, 2) = (μ, ln σ), the page's contract."""
    out = array(value, (n, 2), f"the output of model on {name}")
    assert np.all(np.isfinite(out)), f"expected finite (μ, ln σ) from model on {name}"
    return out[:, 0], np.exp(out[:, 1])


def _figures(mu, sigma, truth, posterior, grid) -> dict:
    ratio = sigma / posterior["std"]
    offset = (mu - posterior["mean"]) / posterior["std"]
    pull = (truth - mu) / sigma
    density = np.array([np.interp(t, grid, d) for t, d in zip(truth, posterior["density"], strict=True)])
    cdf = np.array([np.interp(t, grid, c) for t, c in zip(truth, posterior["cdf"], strict=True)])
    nll_net = float(np.mean(0.5 * pull**2 + np.log(sigma) + 0.5 * np.log(2 * np.pi)))
    nll_exact = float(np.mean(-np.log(density)))
    best = (truth - posterior["mean"]) / posterior["std"]
    nll_best = float(np.mean(0.5 * best**2 + np.log(posterior["std"]) + 0.5 * np.log(2 * np.pi)))
    return {
        "sigma_ratio": float(np.median(ratio)),
        "mean_offset": float(np.sqrt(np.mean(offset**2))),
        "coverage": {"68": float(np.mean(np.abs(pull) < 1.0)), "95": float(np.mean(np.abs(pull) < 1.96))},
        "coverage_exact": {
            "68": float(np.mean((cdf > 0.1587) & (cdf < 0.8413))),
            "95": float(np.mean((cdf > 0.025) & (cdf < 0.975))),
        },
        "nll_net": nll_net,
        "nll_exact": nll_exact,
        "nll_gap": nll_net - nll_exact,
        "nll_floor": nll_best - nll_exact,
    }


def _fresh_figures(r, ctx) -> dict:
    mu, sigma = _network(r["model_fresh"], len(ctx.kept["fresh_T"]), "fresh lattices")
    return _figures(mu, sigma, ctx.kept["fresh_T"], ctx.kept["fresh_posterior"], ctx.kept["grid"])


def _test_figures(r, ctx) -> dict:
    mu, sigma = _network(r["model_test"], len(ctx.kept["T_test"]), "the test lattices")
    return _figures(mu, sigma, ctx.kept["T_test"], ctx.kept["test_posterior"], ctx.kept["grid"])


@exercise.check(task="1", points=1)
def energy_std_is_the_exact_energy_spread(r, ctx):
    temperatures = ctx.sent["T"]
    got = array(r["energy_std"], (len(temperatures),), "energy_std(T)")
    reference = energy_std(temperatures, ctx.params["SIZE"])
    worst = float(np.max(np.abs(got / reference - 1)))
    assert worst < 1e-3, (
        f"expected energy_std(T) = the exact σ_E = (∂² ln Z/∂β²)^½ within 0.1 % at temperatures it drew; "
        f"yours is off by {worst:.1%} at the worst"
    )


@exercise.check(task="1", points=1)
def exact_is_the_posterior_with_the_training_prior(r, ctx):
    posterior = ctx.kept["test_posterior"]
    n = len(ctx.kept["T_test"])
    mean, std = array(r["exact_mean"], (n,), "exact['mean']"), array(r["exact_std"], (n,), "exact['std']")
    assert np.allclose(mean, posterior["mean"], atol=1e-5), (
        "expected exact['mean'] = the posterior mean of the test lattices on grid, with the prior flat on [T_MIN, "
        "T_MAX]"
    )
    assert np.allclose(std, posterior["std"], rtol=1e-4), "expected exact['std'] = the width of that posterior"


@exercise.check(task="2", points=1)
def gaussian_nll_is_the_mean_negative_log_likelihood(r, ctx):
    t, pred = ctx.sent["y_true"][:, 0], ctx.sent["y_pred"]
    reference = np.mean(0.5 * ((t - pred[:, 0]) / np.exp(pred[:, 1])) ** 2 + pred[:, 1] + 0.5 * np.log(2 * np.pi))
    got = number(r["nll"], "gaussian_nll(y_true, y_pred)")
    assert np.isclose(got, reference, rtol=1e-4, atol=1e-4), (
        f"expected gaussian_nll = the batch mean of (T − μ)²/2σ² + ln σ + ½ ln 2π on values it drew; got {got:.4f}"
    )


@exercise.check(task="2", points=2)
def mu_and_sigma_match_the_exact_posterior_on_fresh_lattices(r, ctx):
    figures = _fresh_figures(r, ctx)
    low, high, offset = (0.75, 1.35, 0.7) if ctx.fast else (0.9, 1.15, 0.35)
    ratio = figures["sigma_ratio"]
    assert low < ratio < high, (
        f"expected the median σ_net/σ_exact within [{low}, {high}] on fresh lattices; yours is {ratio:.3f}"
    )
    assert figures["mean_offset"] < offset, (
        f"expected an rms (μ_net − μ_exact)/σ_exact below {offset} on fresh lattices; yours is "
        f"{figures['mean_offset']:.3f}"
    )


@exercise.check(task="2", points=1)
def likelihood_gap_on_fresh_lattices_is_small(r, ctx):
    figures = _fresh_figures(r, ctx)
    excess = 0.3 if ctx.fast else 0.07
    above = figures["nll_gap"] - figures["nll_floor"]
    assert above < excess, (
        f"expected an NLL gap at most {excess} nats above the best Gaussian head's on fresh lattices; yours is "
        f"{above:.3f} above it"
    )


@exercise.check(task="3", points=2)
def sigma_ratio_and_mean_offset_describe_the_network(r, ctx):
    n = len(ctx.kept["T_test"])
    mu, sigma = _predicted(r["test"], n, "predict(spins_test)")
    mu_model, sigma_model = _network(r["model_test"], n, "the test lattices")
    assert np.allclose(mu, mu_model, rtol=1e-4, atol=1e-4) and np.allclose(sigma, sigma_model, rtol=1e-3), (
        "expected predict(spins_test) = (μ, exp(ln σ)) of the outputs of your trained model, as the page says; "
        "it returns something else"
    )
    figures = _test_figures(r, ctx)
    for name in ("sigma_ratio", "mean_offset"):
        got = number(r[name], name)
        assert np.isclose(got, figures[name], rtol=1e-3, atol=1e-4), (
            f"expected {name} computed from predict(spins_test) and the exact posterior; got {got:.4f}"
        )


@exercise.check(task="4", points=0.5)
def coverages_count_the_test_lattices(r, ctx):
    figures = _test_figures(r, ctx)
    for name in ("coverage", "coverage_exact"):
        got = r[name]
        assert isinstance(got, dict) and sorted(got) == ["68", "95"], f"expected {name} with the keys 68 and 95"
        for level in ("68", "95"):
            value = number(got[level], f"{name}[{level}]")
            assert abs(value - figures[name][level]) < 1.5 / len(ctx.kept["T_test"]), (
                f"expected {name}[{level}] = the fraction of test lattices inside the interval; got {value:.4f}"
            )


@exercise.check(task="4", points=0.5)
def error_bars_cover_the_truth_on_fresh_lattices(r, ctx):
    coverage = _fresh_figures(r, ctx)["coverage"]
    tolerance = 0.12 if ctx.fast else 0.05  # the page's, for groups of 10 lattices at one temperature
    assert abs(coverage["68"] - 0.683) < tolerance and abs(coverage["95"] - 0.95) < tolerance / 2, (
        f"expected the network's μ ± σ and μ ± 1.96 σ to hold the true temperature of 0.683 and 0.95 of fresh lattices "
        f"(within {tolerance} and {tolerance / 2}); yours hold {coverage['68']:.3f} and {coverage['95']:.3f}"
    )


@exercise.check(task="5", points=1)
def nll_gap_is_recomputed_from_the_network_and_the_posterior(r, ctx):
    figures = _test_figures(r, ctx)
    for name in ("nll_net", "nll_exact", "nll_gap", "nll_floor"):
        got = number(r[name], name)
        assert np.isclose(got, figures[name], atol=2e-3), (
            f"expected {name} as the page defines it, from predict(spins_test); got {got:.4f}"
        )
