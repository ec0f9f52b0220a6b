"""Trusted checks of Exercise 14.1 — energy loss in silicon: which statistic does each loss learn? (10 points).

The judge has the exact conditional density of the simulator (``energy_loss``), so every reference is exact. It

- evaluates the student's four losses, ``barron_nll``, ``pinball_loss``, ``gaussian_nll`` and ``mdn_nll`` on values
  it draws, against the formulas of the page (relative 1e-4);
- calls ``predict_pion``, ``predict_noisy`` at ``N_P`` fresh momenta drawn log-uniformly in 0.2–5 GeV/c and
  compares them with the exact minimisers of each loss: the mean (squared error), the median (absolute error), the
  minimiser of the Cauchy loss (rms relative deviation below 0.02 in fast mode, in which grading runs; 0.01 in full
  mode), and with outliers the mean of the contaminated density (0.035; 0.015) and the median of the clean one
  (0.02; 0.012);
- calls ``barron_parameters`` on ``N_PIONS`` fresh simulated pions and requires Barron's density with those (μ, c, α)
  within 0.14 nats of the exact density's mean NLL (the best Barron density is 0.107 nats above it, the best
  Gaussian 0.163);
- calls ``predict_quantiles``, ``predict_gaussian``, ``predict_mdn`` and ``predict_pid`` on ``N_FRESH`` fresh π/K/p
  particles simulated with the grader's seed: every coverage within 0.03 of its τ (full mode 0.02), within 0.07
  (0.03) in each of four momentum bands, and no crossing;
  the MDN's NLL within 0.06 nats of the exact density's (0.05), the Gaussian's within 0.1 nats of the best Gaussian's
  (the one with the exact conditional mean and standard deviation); the classifier's cross-entropy within 0.03 nats of
  the exact posterior's (0.015);
- checks that each predict function returns what the page says: its model's outputs on ``features(p)``, converted
  (so a predict function that returns something other than the trained model earns nothing), element by element
  (relative 1e-3, plus 1e-3 of the column's median size: one huge output does not widen the others' tolerance).
  The networks of ``models`` (squared, absolute and Cauchy loss), ``models_noisy``, ``gaussian_model``,
  ``mdn_model`` and ``pid_model`` are saved and run by the judge in a clean sandbox on every fresh particle, and the
  locations, likelihoods and cross-entropy above are computed from those runs, converted by the judge as the page
  says; the Barron network (it holds the page's own ``LearnedAlpha`` layer) and the quantile network (read through
  the student's ``to_quantiles``) are still called in the student's kernel, on the first ``N_MODEL`` particles;
- regenerates the notebook's test particles from its parameters (``N_TEST``, ``SEED``) and recomputes ``coverage``,
  ``nll_gaussian``, ``nll_mdn``, ``nll_exact``, ``cross_entropy_net`` and ``cross_entropy_exact`` from the student's
  predictions on them.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import energy_loss

N_P = 60  # fresh momenta for the location networks
N_PIONS = 20_000  # fresh pions for Barron's likelihood
N_FRESH = 100_000  # fresh π/K/p particles
N_MODEL = 2_000  # particles on which predict_quantiles and barron_parameters are compared with their networks
TAUS = np.array([0.05, 0.16, 0.5, 0.84, 0.95])
P_BANDS = (0.2, 0.45, 1.0, 2.2, 5.0)  # GeV/c, the page's momentum bands
SCALE = 100.0  # keV, the networks' unit on the page
LOG_2PI = float(np.log(2 * np.pi))

LOCATION_LOSSES = ("mse", "l1", "cauchy")

exercise = Exercise(
    "14_1_energy_loss",
    # saved, and run by the judge in a clean sandbox: the raw outputs each predict function must convert
    models={
        **{f"pion_{k}": f"models[{k!r}]" for k in LOCATION_LOSSES},
        **{f"noisy_{k}": f"models_noisy[{k!r}]" for k in LOCATION_LOSSES},
        "gaussian_model": "gaussian_model",
        "mdn_model": "mdn_model",
        "pid_model": "pid_model",
    },
    runs={
        **{f"raw_pion_{k}": (f"pion_{k}", "x_p") for k in LOCATION_LOSSES},
        **{f"raw_noisy_{k}": (f"noisy_{k}", "x_p") for k in LOCATION_LOSSES},
        "raw_gaussian": ("gaussian_model", "x_mix"),
        "raw_mdn": ("mdn_model", "x_mix"),
        "raw_pid": ("pid_model", "x_pid"),
    },
    collect={
        "mse": "keras.ops.convert_to_numpy(mse_loss(inputs['y'], inputs['f']))",
        "l1": "keras.ops.convert_to_numpy(l1_loss(inputs['y'], inputs['f']))",
        "cauchy": "keras.ops.convert_to_numpy(cauchy_loss(inputs['y'], inputs['f']))",
        "rho": "keras.ops.convert_to_numpy(barron_rho(inputs['x'], inputs['alpha'], inputs['c']))",
        "barron_nll": "keras.ops.convert_to_numpy(barron_nll(inputs['y'], inputs['f_barron']))",
        "pion": "{k: predict_pion(k, inputs['p']) for k in ('mse', 'l1', 'cauchy', 'barron')}",
        "barron": "barron_parameters(inputs['p_pions'])",
        "noisy": "{k: predict_noisy(k, inputs['p']) for k in ('mse', 'l1', 'cauchy')}",
        "pinball": "keras.ops.convert_to_numpy(pinball_loss(inputs['y'], inputs['f_quantiles']))",
        "gaussian_nll": "keras.ops.convert_to_numpy(gaussian_nll(inputs['y'], inputs['f_gaussian']))",
        "mdn_nll": "keras.ops.convert_to_numpy(mdn_nll(inputs['y'], inputs['f_mdn']))",
        "quantiles": "predict_quantiles(inputs['p_mix'])",
        "gaussian": "predict_gaussian(inputs['p_mix'])",
        "mdn": "predict_mdn(inputs['p_mix'])",
        "pid": "predict_pid(inputs['p_mix'], inputs['delta_mix'])",
        "test_quantiles": "predict_quantiles(inputs['p_test'])",
        "test_gaussian": "predict_gaussian(inputs['p_test'])",
        "test_mdn": "predict_mdn(inputs['p_test'])",
        "test_pid": "predict_pid(inputs['p_test'], inputs['delta_test'])",
        # in the student's kernel: the Barron network holds the page's own LearnedAlpha layer, and to_quantiles is
        # the student's map from the network's outputs to ordered quantiles
        "raw_barron": "keras.ops.convert_to_numpy(models['barron'](inputs['x_pions']))",
        "raw_quantiles": f"to_quantiles(quantile_model(inputs['x_mix'][:{N_MODEL}]))",
        "coverage": "coverage",
        "nll_gaussian": "nll_gaussian",
        "nll_mdn": "nll_mdn",
        "nll_exact": "nll_exact",
        "cross_entropy_net": "cross_entropy_net",
        "cross_entropy_exact": "cross_entropy_exact",
    },
)


def test_particles(params) -> dict:
    """The notebook's test particles, made as its given cell makes them."""
    return energy_loss.simulate(params["N_TEST"], seed=params["SEED"] + 3)


def cauchy_rho(r, c=5.0):
    """The Cauchy loss of residuals r (keV) with the page's scale c (keV)."""
    return np.log1p(0.5 * (r / c) ** 2)


def barron_rho(x, alpha, c):
    """Barron's ρ(x, α, c) for 0 < α < 2 (float64)."""
    b = np.abs(alpha - 2.0)
    return b / alpha * np.expm1(0.5 * alpha * np.log1p((x / c) ** 2 / b))


def log_barron_z(alpha):
    """ln Z(α), the same table the page's ``barron_log_partition`` interpolates."""
    from dlphys.losses import BARRON_ALPHA, _barron_log_z_table

    return np.interp(alpha, BARRON_ALPHA, _barron_log_z_table())


def mixture_nll(delta, w, mu, sigma):
    """−ln Σ_k w_k N(Δ; μ_k, σ_k) per event (arrays (n,) and (n, K))."""
    log_terms = (
        np.log(np.maximum(w, 1e-300)) - 0.5 * ((delta[:, None] - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * LOG_2PI
    )
    top = log_terms.max(axis=1)
    return -(top + np.log(np.sum(np.exp(log_terms - top[:, None]), axis=1)))


def _interpolated(p, grid, values):
    return np.interp(np.log(p), np.log(grid), values)


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    params = ctx.params
    p = np.sort(np.exp(rng.uniform(np.log(0.2), np.log(5.0), N_P)))
    pions = energy_loss.simulate(N_PIONS, "pion", seed=int(rng.integers(2**31)))
    mix = energy_loss.simulate(N_FRESH, seed=int(rng.integers(2**31)))
    test = test_particles(params)
    k = int(params["N_COMPONENTS"])
    n = 8
    sent = {
        "y": rng.uniform(0.5, 1.5, (n, 1)).astype("float32"),
        "f": rng.uniform(0.5, 1.5, (n, 1)).astype("float32"),
        "x": rng.uniform(-3.0, 3.0, n).astype("float32"),
        "alpha": rng.uniform(0.05, 1.95, n).astype("float32"),
        "c": rng.uniform(0.5, 2.0, n).astype("float32"),
        "f_barron": np.column_stack(
            [rng.uniform(0.5, 1.5, n), rng.uniform(-3.0, -1.0, n), rng.uniform(0.1, 1.9, n)]
        ).astype("float32"),
        "f_quantiles": np.sort(rng.uniform(0.3, 2.0, (n, len(TAUS))), axis=1).astype("float32"),
        "f_gaussian": np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(-2.0, 0.0, n)]).astype("float32"),
        "f_mdn": np.column_stack(
            [rng.normal(0, 1, (n, k)), rng.uniform(0.5, 1.5, (n, k)), rng.uniform(-2.0, 0.0, (n, k))]
        ).astype("float32"),
        "p": p,
        "x_p": features(p),
        "x_pions": features(pions["p"][:N_MODEL]),
        "x_mix": features(mix["p"]),
        "x_pid": np.column_stack([features(mix["p"])[:, 0], np.log(mix["delta"].astype("float32") / SCALE)]).astype(
            "float32"
        ),
        "p_pions": pions["p"],
        "p_mix": mix["p"],
        "delta_mix": mix["delta"],
        "p_test": test["p"],
        "delta_test": test["delta"],
    }
    grid = np.geomspace(0.2, 5.0, 300)
    exact_grid = energy_loss.conditional_statistics(grid)
    kept = {
        "pion": energy_loss.conditional_statistics(p, "pion"),
        "cauchy": energy_loss.minimise_expected_loss(cauchy_rho, p, "pion"),
        "noisy": energy_loss.conditional_statistics(p, "pion", outlier_fraction=0.01),
        "delta_pions": pions["delta"].astype(float),
        "nll_pions": -np.log(energy_loss.density(pions["delta"], pions["p"], "pion")),
        "species_mix": mix["species"].astype(int),
        "nll_mix": -np.log(energy_loss.density(mix["delta"], mix["p"])),
        "posterior_mix": energy_loss.species_posterior(mix["p"], mix["delta"]),
        "mean_mix": _interpolated(mix["p"], grid, exact_grid["mean"]),
        "std_mix": _interpolated(mix["p"], grid, exact_grid["std"]),
        "species_test": test["species"].astype(int),
        "nll_test": -np.log(energy_loss.density(test["delta"], test["p"])),
        "posterior_test": energy_loss.species_posterior(test["p"], test["delta"]),
    }
    return sent, kept


def features(p) -> np.ndarray:
    """The page's network input: ln(p / 1 GeV/c) / 1.6, float32 (n, 1)."""
    return (np.log(np.asarray(p, dtype="float32")) / 1.6)[:, None].astype("float32")


def _from_model(got, expected, what, model, floor):
    """A predict function must return what the page says it returns: its model's outputs, converted.

    Element by element, columns (n, m) being quantities: within 1e-3 relative plus 1e-3 of the column's median size
    (at least ``floor``, in the column's unit), so that a few huge outputs do not widen the tolerance of the others.
    """
    got = np.asarray(got, dtype=float).reshape(len(got), -1)
    expected = np.asarray(expected, dtype=float).reshape(len(expected), -1)
    size = np.median(np.where(np.isfinite(expected), np.abs(expected), 0.0), axis=0)
    close = np.isclose(got, expected, rtol=1e-3, atol=np.maximum(1e-3 * size, floor))
    if not np.all(close):
        row, column = np.argwhere(~close)[0]
        raise AssertionError(
            f"expected {what} to be computed from the outputs of {model} as the page says; it differs at "
            f"{np.sum(~close)} of {close.size} values (e.g. {got[row, column]:.6g} where the model gives "
            f"{expected[row, column]:.6g})"
        )


def gaussian_from(raw):
    """(μ, σ) in keV from the outputs (μ, ln σ) of ``gaussian_model``, as the page converts them."""
    with np.errstate(over="ignore"):  # an inf σ is then no match for the finite one predict_gaussian returns
        return SCALE * raw[:, 0], SCALE * np.exp(raw[:, 1])


def mdn_from(raw, k):
    """(w, μ, σ), arrays (n, K), μ and σ in keV, from the outputs (logits, μ_k, ln σ_k) of ``mdn_model``."""
    logits = raw[:, :k] - raw[:, :k].max(axis=1, keepdims=True)
    w = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with np.errstate(over="ignore"):
        return w, SCALE * raw[:, k : 2 * k], SCALE * np.exp(raw[:, 2 * k :])


def rms_relative(a, b) -> float:
    return float(np.sqrt(np.mean((a / b - 1) ** 2)))


def _locations(value, names, n, what) -> dict:
    assert isinstance(value, dict) and all(k in value for k in names), f"expected {what} for {', '.join(names)}"
    return {k: array(value[k], (n,), f"{what}({k!r}, p)") for k in names}


def _triple(value, n, k, what):
    # a tuple of arrays of one shape comes back as one array (3, n[, K])
    assert len(value) == 3, f"expected {what} to return three arrays"
    shape = (n,) if k is None else (n, k)
    return tuple(array(v, shape, f"{what}[{i}]") for i, v in enumerate(value))


def _pair(value, n, what):
    assert len(value) == 2, f"expected {what} to return the pair (mu, sigma)"
    mu, sigma = array(value[0], (n,), f"mu of {what}"), array(value[1], (n,), f"sigma of {what}")
    assert np.all(sigma > 0), f"expected positive sigma from {what}"
    return mu, sigma


def _quantiles(value, n, what):
    q = array(value, (n, len(TAUS)), what)
    assert np.all(np.diff(q, axis=1) >= 0), f"expected non-crossing quantiles from {what}: some rows decrease"
    return q


def _mdn(value, n, k, what):
    w, mu, sigma = _triple(value, n, k, what)
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1, atol=1e-4), f"expected weights summing to 1 from {what}"
    assert np.all(sigma > 0), f"expected positive widths from {what}"
    return w, mu, sigma


def _probabilities(value, n, what):
    post = array(value, (n, 3), what)
    assert np.all(post >= 0) and np.allclose(post.sum(axis=1), 1, atol=1e-4), f"expected probabilities from {what}"
    return post


def _close(got, reference, name, rtol=1e-4):
    value = number(got, name)
    assert np.isclose(value, reference, rtol=rtol, atol=1e-6), f"{name} gives {value:.5f} on values it drew"


@exercise.check(task="1", points=1)
def squared_absolute_and_cauchy_losses(r, ctx):
    y, f = ctx.sent["y"].astype(float), ctx.sent["f"].astype(float)
    _close(r["mse"], np.mean((y - f) ** 2), "mse_loss")
    _close(r["l1"], np.mean(np.abs(y - f)), "l1_loss")
    _close(r["cauchy"], np.mean(cauchy_rho((y - f) * SCALE)), "cauchy_loss")


@exercise.check(task="1", points=1)
def barron_rho_is_the_general_robust_loss(r, ctx):
    s = ctx.sent
    reference = barron_rho(s["x"].astype(float), s["alpha"].astype(float), s["c"].astype(float))
    got = array(r["rho"], (len(reference),), "barron_rho(x, alpha, c)")
    worst = float(np.max(np.abs(got - reference) / (np.abs(reference) + 1e-3)))
    assert worst < 1e-3, f"expected barron_rho = Barron's ρ at values it drew; yours is off by {worst:.2%} at the worst"


@exercise.check(task="2", points=1)
def each_location_network_learns_its_losss_minimiser(r, ctx):
    n = len(ctx.sent["p"])
    kernel = _locations(r["pion"], LOCATION_LOSSES, n, "predict_pion")
    got = {}  # the networks' own outputs, run by the judge, in keV: what earns the points
    for name in kernel:
        got[name] = SCALE * array(r[f"raw_pion_{name}"], (n, None), "model output")[:, 0]
        _from_model(kernel[name], got[name], f"predict_pion({name!r}, p)", f"models[{name!r}]", floor=1e-2)
    limit = 0.02 if ctx.fast else 0.01
    for name, reference, statistic in (
        ("mse", ctx.kept["pion"]["mean"], "exact mean"),
        ("l1", ctx.kept["pion"]["median"], "exact median"),
        ("cauchy", ctx.kept["cauchy"], "exact minimiser of the Cauchy loss"),
    ):
        deviation = rms_relative(got[name], reference)
        assert deviation < limit, (
            f"expected predict_pion({name!r}, p) within {limit} rms (relative) of the {statistic} at fresh momenta; "
            f"yours is {deviation:.4f}"
        )


@exercise.check(task="2", points=1)
def barron_likelihood_on_fresh_pions(r, ctx):
    f = ctx.sent["f_barron"].astype(float)
    y = ctx.sent["y"].astype(float)[:, 0]
    reference = np.mean(barron_rho(y - f[:, 0], f[:, 2], np.exp(f[:, 1])) + f[:, 1] + log_barron_z(f[:, 2]))
    _close(r["barron_nll"], reference, "barron_nll", rtol=1e-3)
    n = len(ctx.sent["p_pions"])
    mu, c, alpha = _triple(r["barron"], n, None, "barron_parameters(p)")
    assert np.all(c > 0) and np.all((alpha > 0) & (alpha < 2)), "expected c > 0 and 0 < α < 2 from barron_parameters"
    raw = array(r["raw_barron"], (N_MODEL, 3), "models['barron'] output")
    _from_model(
        np.column_stack([mu[:N_MODEL], c[:N_MODEL], alpha[:N_MODEL]]),
        np.column_stack([SCALE * raw[:, 0], SCALE * np.exp(raw[:, 1]), raw[:, 2]]),
        "barron_parameters(p)",
        "models['barron']",
        floor=np.array([1e-2, 1e-2, 1e-6]),  # keV, keV, α
    )
    nll = barron_rho(ctx.kept["delta_pions"] - mu, alpha, c) + np.log(c) + log_barron_z(alpha)
    gap = float(np.mean(nll) - np.mean(ctx.kept["nll_pions"]))
    assert gap < 0.14, (
        f"expected Barron's density with your (μ, c, α) within 0.14 nats of the exact density's NLL on fresh pions; "
        f"yours is {gap:.3f} above it"
    )
    located = _locations(r["pion"], ("barron",), len(ctx.sent["p"]), "predict_pion")["barron"]
    assert np.all(np.isfinite(located)), "expected predict_pion('barron', p) to be finite"


@exercise.check(task="3", points=1)
def outliers_move_the_mean_not_the_median(r, ctx):
    n = len(ctx.sent["p"])
    kernel = _locations(r["noisy"], LOCATION_LOSSES, n, "predict_noisy")
    got = {}  # the networks' own outputs, run by the judge, in keV: what earns the points
    for name in kernel:
        got[name] = SCALE * array(r[f"raw_noisy_{name}"], (n, None), "model output")[:, 0]
        _from_model(kernel[name], got[name], f"predict_noisy({name!r}, p)", f"models_noisy[{name!r}]", floor=1e-2)
    for name, reference, statistic, limit in (
        ("mse", ctx.kept["noisy"]["mean"], "exact mean with 1 % outliers", 0.035 if ctx.fast else 0.015),
        ("l1", ctx.kept["pion"]["median"], "exact median without outliers", 0.02 if ctx.fast else 0.012),
    ):
        deviation = rms_relative(got[name], reference)
        assert deviation < limit, (
            f"expected predict_noisy({name!r}, p) within {limit} rms (relative) of the {statistic} at fresh momenta; "
            f"yours is {deviation:.4f}"
        )


@exercise.check(task="4", points=1)
def pinball_loss_sums_the_levels(r, ctx):
    y, q = ctx.sent["y"].astype(float), ctx.sent["f_quantiles"].astype(float)
    residual = y - q
    reference = np.mean(np.sum(np.maximum(TAUS * residual, (TAUS - 1) * residual), axis=1))
    _close(r["pinball"], reference, "pinball_loss")


@exercise.check(task="4", points=1)
def quantiles_cover_fresh_particles(r, ctx):
    delta = ctx.sent["delta_mix"].astype(float)
    q = _quantiles(r["quantiles"], len(delta), "predict_quantiles(p)")
    raw = array(r["raw_quantiles"], (N_MODEL, len(TAUS)), "to_quantiles(quantile_model(...))")
    _from_model(q[:N_MODEL], raw, "predict_quantiles(p)", "quantile_model through to_quantiles", floor=1e-2)
    coverage = np.mean(delta[:, None] < q, axis=0)
    limit, band_limit = (0.03, 0.07) if ctx.fast else (0.02, 0.03)
    worst = float(np.max(np.abs(coverage - TAUS)))
    assert worst < limit, (
        f"expected every coverage within {limit} of its τ on {len(delta)} fresh particles; yours is off by {worst:.4f}"
    )
    band = np.digitize(ctx.sent["p_mix"], P_BANDS[1:-1])
    for b in range(len(P_BANDS) - 1):
        inside = band == b
        off = float(np.max(np.abs(np.mean(delta[inside, None] < q[inside], axis=0) - TAUS)))
        assert off < band_limit, (
            f"expected every coverage within {band_limit} of its τ in the momentum band {P_BANDS[b]}–{P_BANDS[b + 1]} "
            f"GeV/c on fresh particles; yours is off by {off:.4f}"
        )
    delta_test = ctx.sent["delta_test"].astype(float)
    q_test = _quantiles(r["test_quantiles"], len(delta_test), "predict_quantiles(test['p'])")
    got = array(r["coverage"], (len(TAUS),), "coverage")
    assert np.allclose(got, np.mean(delta_test[:, None] < q_test, axis=0), atol=1e-4), (
        "expected coverage = the fraction of the test particles below each quantile of predict_quantiles"
    )


@exercise.check(task="5", points=1)
def gaussian_and_mixture_likelihoods(r, ctx):
    y = ctx.sent["y"].astype(float)[:, 0]
    g = ctx.sent["f_gaussian"].astype(float)
    _close(r["gaussian_nll"], np.mean(mixture_nll(y, np.ones((len(y), 1)), g[:, :1], np.exp(g[:, 1:]))), "gaussian_nll")
    m = ctx.sent["f_mdn"].astype(float)
    k = m.shape[1] // 3
    logits = m[:, :k] - m[:, :k].max(axis=1, keepdims=True)
    w = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    _close(r["mdn_nll"], np.mean(mixture_nll(y, w, m[:, k : 2 * k], np.exp(m[:, 2 * k :]))), "mdn_nll")


def _gaussian_nll(delta, mu, sigma) -> float:
    return float(np.mean(mixture_nll(delta, np.ones((len(delta), 1)), mu[:, None], sigma[:, None])))


def _nll_figures(r, prefix, delta, k):
    n = len(delta)
    nll_gaussian = _gaussian_nll(delta, *_pair(r[f"{prefix}gaussian"], n, "predict_gaussian(p)"))
    nll_mdn = float(np.mean(mixture_nll(delta, *_mdn(r[f"{prefix}mdn"], n, k, "predict_mdn(p)"))))
    return nll_gaussian, nll_mdn


@exercise.check(task="5", points=1)
def mixture_density_network_reaches_the_exact_entropy(r, ctx):
    k = int(ctx.params["N_COMPONENTS"])
    delta = ctx.sent["delta_mix"].astype(float)
    n = len(delta)
    # the networks' own outputs, run by the judge on the fresh particles and converted as the page says: what earns
    # the points; predict_gaussian and predict_mdn must return them
    gaussian = gaussian_from(array(r["raw_gaussian"], (n, 2), "gaussian_model output"))
    _from_model(
        np.column_stack(_pair(r["gaussian"], n, "predict_gaussian(p)")),
        np.column_stack(gaussian),
        "predict_gaussian(p)",
        "gaussian_model",
        floor=1e-2,  # keV
    )
    mdn = mdn_from(array(r["raw_mdn"], (n, 3 * k), "mdn_model output"), k)
    _from_model(
        np.concatenate(_mdn(r["mdn"], n, k, "predict_mdn(p)"), axis=1),
        np.concatenate(mdn, axis=1),
        "predict_mdn(p)",
        "mdn_model",
        floor=np.repeat([1e-6, 1e-2, 1e-2], k),  # weights, keV, keV
    )
    nll_gaussian = _gaussian_nll(delta, *gaussian)
    nll_mdn = float(np.mean(mixture_nll(delta, *mdn)))
    nll_exact = float(np.mean(ctx.kept["nll_mix"]))
    limit = 0.06 if ctx.fast else 0.05
    assert nll_mdn - nll_exact < limit, (
        f"expected the NLL of predict_mdn within {limit} nats of the exact density's on fresh particles; yours is "
        f"{nll_mdn - nll_exact:.4f} above it"
    )
    z = (delta - ctx.kept["mean_mix"]) / ctx.kept["std_mix"]
    floor = float(np.mean(0.5 * z**2 + np.log(ctx.kept["std_mix"]) + 0.5 * LOG_2PI))
    assert nll_gaussian - floor < 0.1, (
        f"expected the NLL of predict_gaussian within 0.1 nats of the best single Gaussian's on fresh particles; "
        f"yours is {nll_gaussian - floor:.3f} above it"
    )
    delta_test = ctx.sent["delta_test"].astype(float)
    test_gaussian, test_mdn = _nll_figures(r, "test_", delta_test, k)
    for name, reference in (
        ("nll_gaussian", test_gaussian),
        ("nll_mdn", test_mdn),
        ("nll_exact", float(np.mean(ctx.kept["nll_test"]))),
    ):
        got = number(r[name], name)
        assert abs(got - reference) < 2e-3, (
            f"expected {name} as the page defines it on the test particles; got {got:.4f}"
        )


@exercise.check(task="6", points=1)
def classifier_reaches_the_exact_posterior(r, ctx):
    species = ctx.kept["species_mix"]
    index = np.arange(len(species)), species
    kernel = _probabilities(r["pid"], len(species), "predict_pid(p, delta)")
    post = array(r["raw_pid"], (len(species), 3), "pid_model output")  # the network's own: what earns the point
    if not np.allclose(post.sum(axis=1), 1, atol=1e-4) or np.any(post < 0):  # logits
        post = np.exp(post - post.max(axis=1, keepdims=True))
        post = post / post.sum(axis=1, keepdims=True)
    _from_model(kernel, post, "predict_pid(p, delta)", "pid_model", floor=1e-6)
    excess = float(
        np.mean(-np.log(np.maximum(post[index], 1e-12))) - np.mean(-np.log(ctx.kept["posterior_mix"][index]))
    )
    limit = 0.03 if ctx.fast else 0.015
    assert excess < limit, (
        f"expected the cross-entropy of predict_pid within {limit} nats of the exact posterior's on fresh particles; "
        f"yours is {excess:.4f} above it"
    )
    species_test = ctx.kept["species_test"]
    index = np.arange(len(species_test)), species_test
    post_test = _probabilities(r["test_pid"], len(species_test), "predict_pid(test['p'], test['delta'])")
    for name, reference in (
        ("cross_entropy_net", np.mean(-np.log(np.maximum(post_test[index], 1e-12)))),
        ("cross_entropy_exact", np.mean(-np.log(ctx.kept["posterior_test"][index]))),
    ):
        got = number(r[name], name)
        assert abs(got - reference) < 2e-3, (
            f"expected {name} as the page defines it on the test particles; got {got:.4f}"
        )
