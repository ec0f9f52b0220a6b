"""The judge of 14.1 against answers whose quality is known: the exact statistics themselves, and wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.integrate import trapezoid  # np.trapezoid needs NumPy 2; the floor is 1.26

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex14_1 as judge
from dlphys.datasets import energy_loss

PARAMS = {"N_TEST": 40_000, "N_COMPONENTS": 6, "SEED": 7, "C_CAUCHY": 5.0}
GRID = np.geomspace(0.2, 5.0, 300)


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("14_1_energy_loss")
    ctx = Context("14_1_energy_loss", 11, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


@pytest.fixture(scope="module")
def shapes():
    """Best Barron density and a two-Gaussian approximation of the standard Moyal density (fitted once)."""
    z = np.linspace(-5.0, 60.0, 40001)
    f = stats.moyal.pdf(z)

    def barron(theta):
        a, log_b, alpha = theta
        alpha = float(np.clip(alpha, 0.01, 1.99))
        b = np.exp(log_b)
        return trapezoid(f * judge.barron_rho((z - a) / b, alpha, 1.0), z) + log_b + judge.log_barron_z(alpha)

    best_barron = optimize.minimize(barron, [0.5, 0.0, 1.0], method="Nelder-Mead").x

    def two_gaussians(theta):
        w = 1 / (1 + np.exp(-theta[0]))
        m, s = theta[1:3], np.exp(theta[3:5])
        g = w * stats.norm.pdf(z, m[0], s[0]) + (1 - w) * stats.norm.pdf(z, m[1], s[1])
        return -trapezoid(f * np.log(np.maximum(g, 1e-300)), z)

    fit = optimize.minimize(two_gaussians, [1.0, 0.0, 3.0, 0.0, 1.0], method="Nelder-Mead", options={"maxiter": 4000})
    w = 1 / (1 + np.exp(-fit.x[0]))
    return best_barron, (np.array([w, 1 - w]), fit.x[1:3], np.exp(fit.x[3:5]))


def _mdn(p, moyal2):
    weights, means, widths = moyal2
    w, mu, sigma = [], [], []
    for s, fraction in enumerate(energy_loss.FRACTIONS):
        loc, scale = energy_loss.moyal_parameters(p, s)
        for j in range(2):
            w.append(np.full_like(p, fraction * weights[j]))
            mu.append(loc + scale * means[j])
            sigma.append(scale * widths[j])
    return [np.stack(v, axis=1) for v in (w, mu, sigma)]


def _quantiles(p):
    q = energy_loss.conditional_statistics(GRID, quantiles=judge.TAUS)["quantiles"]
    return np.stack([np.interp(np.log(p), np.log(GRID), q[:, j]) for j in range(len(judge.TAUS))], axis=1)


def _gaussian(p):
    exact = energy_loss.conditional_statistics(GRID)
    return [np.interp(np.log(p), np.log(GRID), exact[key]) for key in ("mean", "std")]


@pytest.fixture(scope="module")
def exact(prepared, shapes):
    return _exact_results(prepared[1], shapes)


def _results(ctx, exact, **wrong):
    """What a notebook whose networks are the exact statistics returns, with ``wrong`` replacing entries.

    The models' outputs follow the replaced predictions, except where ``wrong`` replaces them too.
    """
    wrong = _per_model(wrong)
    results = {**exact, **wrong}
    raw = _raw_outputs(results)
    return {**results, **{k: v for k, v in raw.items() if k not in wrong}}


def _per_model(values):
    """``raw_pion`` / ``raw_noisy`` given as a dict per loss -> the judge's runs ``raw_pion_mse``, ..."""
    out = {k: v for k, v in values.items() if k not in ("raw_pion", "raw_noisy")}
    for key in ("raw_pion", "raw_noisy"):
        out |= {f"{key}_{loss}": v for loss, v in values.get(key, {}).items()}
    return out


def _exact_results(ctx, shapes):
    """What a notebook whose networks are the exact statistics returns."""
    s, kept = ctx.sent, ctx.kept
    y, f = s["y"].astype(float), s["f"].astype(float)
    best_barron, moyal2 = shapes
    a, log_b, alpha = best_barron
    loc, scale = energy_loss.moyal_parameters(s["p_pions"].astype(float), "pion")
    g = s["f_gaussian"].astype(float)
    m = s["f_mdn"].astype(float)
    k = m.shape[1] // 3
    w = np.exp(m[:, :k]) / np.exp(m[:, :k]).sum(axis=1, keepdims=True)
    fb = s["f_barron"].astype(float)
    residual = y - s["f_quantiles"].astype(float)
    test = judge.test_particles(PARAMS)
    index = np.arange(len(test["p"])), test["species"].astype(int)
    q_test = _quantiles(test["p"].astype(float))
    mu_test, sigma_test = _gaussian(test["p"].astype(float))
    mdn_test = _mdn(test["p"].astype(float), moyal2)
    post_test = energy_loss.species_posterior(test["p"], test["delta"])
    delta_test = test["delta"].astype(float)
    results = {
        "mse": np.mean((y - f) ** 2),
        "l1": np.mean(np.abs(y - f)),
        "cauchy": np.mean(judge.cauchy_rho((y - f) * 100.0)),
        "rho": judge.barron_rho(s["x"].astype(float), s["alpha"].astype(float), s["c"].astype(float)),
        "barron_nll": np.mean(
            judge.barron_rho(y[:, 0] - fb[:, 0], fb[:, 2], np.exp(fb[:, 1])) + fb[:, 1] + judge.log_barron_z(fb[:, 2])
        ),
        "pion": {
            "mse": kept["pion"]["mean"],
            "l1": kept["pion"]["median"],
            "cauchy": kept["cauchy"],
            "barron": kept["pion"]["mode"],
        },
        "barron": [loc + a * scale, np.exp(log_b) * scale, np.full_like(loc, np.clip(alpha, 0.01, 1.99))],
        "noisy": {"mse": kept["noisy"]["mean"], "l1": kept["pion"]["median"], "cauchy": kept["cauchy"]},
        "pinball": np.mean(np.sum(np.maximum(judge.TAUS * residual, (judge.TAUS - 1) * residual), axis=1)),
        "gaussian_nll": np.mean(0.5 * ((y[:, 0] - g[:, 0]) / np.exp(g[:, 1])) ** 2 + g[:, 1] + judge.LOG_2PI / 2),
        "mdn_nll": np.mean(judge.mixture_nll(y[:, 0], w, m[:, k : 2 * k], np.exp(m[:, 2 * k :]))),
        "quantiles": _quantiles(s["p_mix"].astype(float)),
        "gaussian": [kept["mean_mix"], kept["std_mix"]],
        "mdn": _mdn(s["p_mix"].astype(float), moyal2),
        "pid": kept["posterior_mix"],
        "test_quantiles": q_test,
        "test_gaussian": [mu_test, sigma_test],
        "test_mdn": mdn_test,
        "test_pid": post_test,
        "coverage": np.mean(delta_test[:, None] < q_test, axis=0),
        "nll_gaussian": np.mean(
            judge.mixture_nll(delta_test, np.ones((len(delta_test), 1)), mu_test[:, None], sigma_test[:, None])
        ),
        "nll_mdn": np.mean(judge.mixture_nll(delta_test, *mdn_test)),
        "nll_exact": np.mean(-np.log(energy_loss.density(test["delta"], test["p"]))),
        "cross_entropy_net": np.mean(-np.log(post_test[index])),
        "cross_entropy_exact": np.mean(-np.log(post_test[index])),
    }
    return {**results, **_raw_outputs(results)}


def _raw_outputs(results):
    """The models' outputs that the predict functions of ``results`` were computed from: what the clean sandbox
    returns for the saved networks (every fresh particle), and what the kernel returns for the Barron and quantile
    networks (the first N_MODEL)."""
    n = judge.N_MODEL
    scale = judge.SCALE
    mu, c, alpha = (np.asarray(v)[:n] for v in results["barron"])
    w, mu_k, sigma_k = (np.asarray(v) for v in results["mdn"])
    mu_g, sigma_g = (np.asarray(v) for v in results["gaussian"])
    return {
        **{f"raw_pion_{k}": np.asarray(results["pion"][k])[:, None] / scale for k in judge.LOCATION_LOSSES},
        **{f"raw_noisy_{k}": np.asarray(results["noisy"][k])[:, None] / scale for k in judge.LOCATION_LOSSES},
        "raw_barron": np.column_stack([mu / scale, np.log(c / scale), alpha]),
        "raw_quantiles": np.asarray(results["quantiles"])[:n],
        "raw_gaussian": np.column_stack([mu_g / scale, np.log(sigma_g / scale)]),
        "raw_mdn": np.concatenate([np.log(w), mu_k / scale, np.log(sigma_k / scale)], axis=1),
        "raw_pid": np.log(np.maximum(np.asarray(results["pid"]), 1e-30)),
    }


def test_the_exact_statistics_as_networks_earn_every_point(prepared, exact):
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, exact), ctx)
    assert per_task == {"1": 2, "2": 2, "3": 1, "4": 2, "5": 2, "6": 1}


def test_a_barron_rho_without_the_alpha_factor_loses_one_point_of_task_1(prepared, exact):
    exercise, ctx = prepared
    s = ctx.sent
    x, alpha, c = (s[k].astype(float) for k in ("x", "alpha", "c"))
    wrong = np.expm1(0.5 * alpha * np.log1p((x / c) ** 2 / np.abs(alpha - 2)))  # |α−2|/α dropped
    assert exercise.points(_results(ctx, exact, rho=wrong), ctx)["1"] == 1


def test_a_squared_error_network_at_the_median_loses_a_point_of_task_2(prepared, exact):
    exercise, ctx = prepared
    kept = ctx.kept
    pion = {
        "mse": kept["pion"]["median"],
        "l1": kept["pion"]["median"],
        "cauchy": kept["cauchy"],
        "barron": kept["cauchy"],
    }
    assert exercise.points(_results(ctx, exact, pion=pion), ctx)["2"] == 1


def test_a_cauchy_network_at_the_mode_loses_a_point_of_task_2(prepared, exact):
    """The Cauchy loss's minimiser is 4-5 % above the mode: a network at the mode did not learn it."""
    exercise, ctx = prepared
    kept = ctx.kept
    pion = {
        "mse": kept["pion"]["mean"],
        "l1": kept["pion"]["median"],
        "cauchy": kept["pion"]["mode"],
        "barron": kept["cauchy"],
    }
    assert exercise.points(_results(ctx, exact, pion=pion), ctx)["2"] == 1


def test_a_gaussian_instead_of_a_learned_alpha_loses_a_point_of_task_2(prepared, exact):
    """The best Gaussian (α → 2; mean loc + 1.27 σ, width 2.22 σ of the Moyal σ) is 0.163 nats above the exact NLL."""
    exercise, ctx = prepared
    loc, scale = energy_loss.moyal_parameters(ctx.sent["p_pions"].astype(float), "pion")
    barron = [loc + 1.2704 * scale, 2.2214 * scale, np.full_like(loc, 1.999)]
    assert exercise.points(_results(ctx, exact, barron=barron), ctx)["2"] == 1


def test_a_squared_error_network_that_ignores_the_outliers_loses_task_3(prepared, exact):
    exercise, ctx = prepared
    noisy = {"mse": ctx.kept["pion"]["mean"], "l1": ctx.kept["pion"]["median"], "cauchy": ctx.kept["cauchy"]}
    assert exercise.points(_results(ctx, exact, noisy=noisy), ctx)["3"] == 0


def test_quantiles_that_ignore_the_momentum_lose_a_point_of_task_4(prepared, exact):
    exercise, ctx = prepared
    q = np.quantile(ctx.sent["delta_mix"], judge.TAUS)
    quantiles = np.broadcast_to(q, (len(ctx.sent["p_mix"]), len(judge.TAUS)))
    assert exercise.points(_results(ctx, exact, quantiles=quantiles), ctx)["4"] == 1


def test_a_reported_coverage_that_does_not_describe_the_network_loses_a_point_of_task_4(prepared, exact):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx, exact, coverage=judge.TAUS.copy()), ctx)["4"] == 1


def test_a_single_gaussian_as_mixture_density_network_loses_a_point_of_task_5(prepared, exact):
    exercise, ctx = prepared
    n, k = len(ctx.sent["p_mix"]), PARAMS["N_COMPONENTS"]
    mdn = [
        np.full((n, k), 1 / k),
        np.repeat(ctx.kept["mean_mix"][:, None], k, 1),
        np.repeat(ctx.kept["std_mix"][:, None], k, 1),
    ]
    assert exercise.points(_results(ctx, exact, mdn=mdn), ctx)["5"] == 1


def test_a_classifier_that_ignores_the_energy_loss_loses_task_6(prepared, exact):
    exercise, ctx = prepared
    pid = np.broadcast_to(np.array(energy_loss.FRACTIONS), (len(ctx.sent["p_mix"]), 3))
    assert exercise.points(_results(ctx, exact, pid=pid), ctx)["6"] == 0


def test_a_reported_cross_entropy_below_the_networks_loses_task_6(prepared, exact):
    exercise, ctx = prepared
    results = dict(exact)
    results["cross_entropy_net"] = results["cross_entropy_exact"] - 0.01
    results["test_pid"] = np.broadcast_to(np.array(energy_loss.FRACTIONS), results["test_pid"].shape)
    assert exercise.points(results, ctx)["6"] == 0


def test_predictions_that_are_not_the_models_earn_nothing_for_the_models(prepared, exact):
    """The exact statistics returned by predict functions while the models say something else: a cheat."""
    exercise, ctx = prepared
    ignorant = {k: np.full_like(exact[f"raw_pion_{k}"], 0.8) for k in judge.LOCATION_LOSSES}
    untrained = np.full((judge.N_MODEL, 5), 100.0) * np.arange(1, 6)
    per_task = exercise.points(
        _results(ctx, exact, raw_pion=ignorant, raw_pid=np.zeros_like(exact["raw_pid"]), raw_quantiles=untrained), ctx
    )
    assert per_task["2"] == 1 and per_task["4"] == 1 and per_task["6"] == 0  # only the loss formulas still count


def test_a_predict_that_is_the_network_only_where_it_used_to_be_compared_loses_the_point(prepared, exact):
    """The saved networks run on every fresh particle, not on the first N_MODEL alone: a predict_gaussian that is
    the network there and the exact statistics beyond is caught."""
    exercise, ctx = prepared
    raw = np.array(exact["raw_gaussian"])
    raw[judge.N_MODEL :] = raw[: judge.N_MODEL].mean(axis=0)  # an untrained-looking network beyond N_MODEL
    per_task = exercise.points(_results(ctx, exact, raw_gaussian=raw), ctx)
    assert per_task["5"] == 1  # the loss formulas; not the likelihoods of the networks
    assert set(exercise.models) >= {"pion_mse", "noisy_cauchy", "gaussian_model", "mdn_model", "pid_model"}
    assert exercise.runs["raw_gaussian"] == ("gaussian_model", "x_mix") and len(ctx.sent["x_mix"]) == judge.N_FRESH


def _huge_output_cheats(ctx, exact):
    """Untrained networks (one constant Gaussian) that output a huge σ on a few particles at p > 4.99 GeV/c (the
    Gaussian's ln σ = 25; an MDN component of weight e^-40 with ln σ = 25), and predict functions that return the
    networks there and the exact statistics elsewhere: the judge's old tolerance, 1e-3 of the largest output, let
    every other value through."""
    delta, p = ctx.sent["delta_mix"].astype(float), ctx.sent["p_mix"]
    k = PARAMS["N_COMPONENTS"]
    huge = np.flatnonzero(p > 4.99)[:5]
    assert len(huge) == 5
    mean, log_std = np.mean(delta) / judge.SCALE, np.log(np.std(delta) / judge.SCALE)
    raw_gaussian = np.tile([mean, log_std], (len(p), 1))
    raw_gaussian[huge, 1] = 25.0
    gaussian = [np.array(v) for v in exact["gaussian"]]
    for kernel, model in zip(gaussian, judge.gaussian_from(raw_gaussian), strict=True):
        kernel[huge] = model[huge]
    raw_mdn = np.tile(np.concatenate([np.zeros(k), np.full(k, mean), np.full(k, log_std)]), (len(p), 1))
    raw_mdn[huge, 0], raw_mdn[huge, 2 * k] = -40.0, 25.0
    mdn = [np.array(v) for v in exact["mdn"]]
    for kernel, model in zip(mdn, judge.mdn_from(raw_mdn, k), strict=True):
        kernel[huge] = model[huge]
    return {"gaussian": gaussian, "raw_gaussian": raw_gaussian}, {"mdn": mdn, "raw_mdn": raw_mdn}


@pytest.mark.parametrize("which", ["gaussian", "mdn"])
def test_a_predict_that_is_the_network_only_where_its_output_is_huge_loses_the_point(prepared, exact, which):
    exercise, ctx = prepared
    cheat = _huge_output_cheats(ctx, exact)[["gaussian", "mdn"].index(which)]
    results = _results(ctx, exact, **cheat)
    assert exercise.points(results, ctx)["5"] == 1  # the loss formulas only
    with pytest.raises(AssertionError, match=f"computed from the outputs of {which}_model"):
        judge.mixture_density_network_reaches_the_exact_entropy(results, ctx)


@pytest.mark.parametrize("which", ["gaussian", "mdn"])
def test_the_likelihoods_are_the_networks_not_the_predict_functions(prepared, exact, which, monkeypatch):
    """Even were a predict function let through, the NLL that earns the point is the judge's run of the network."""
    ctx = prepared[1]
    cheat = _huge_output_cheats(ctx, exact)[["gaussian", "mdn"].index(which)]
    results = _results(ctx, exact, **cheat)
    monkeypatch.setattr(judge, "_from_model", lambda *args, **kwargs: None)
    expected = "best single Gaussian" if which == "gaussian" else "exact density"
    with pytest.raises(AssertionError, match=f"NLL of predict_{which} within .* of the {expected}"):
        judge.mixture_density_network_reaches_the_exact_entropy(results, ctx)
    monkeypatch.undo()
    judge.mixture_density_network_reaches_the_exact_entropy(_results(ctx, exact), ctx)  # the honest one passes


def test_a_model_that_differs_by_half_a_percent_on_a_few_particles_is_not_the_predict_function(prepared, exact):
    """The tolerance is per element: 0.5 % off on 10 of 100 000 particles is caught (1e-3 of the largest value, the
    old tolerance, let it through)."""
    ctx = prepared[1]
    raw = np.array(exact["raw_gaussian"])
    raw[np.argsort(raw[:, 0])[:10], 0] *= 1.005  # the smallest means, near 90 keV
    with pytest.raises(AssertionError, match="differs at 10 of"):
        judge.mixture_density_network_reaches_the_exact_entropy(_results(ctx, exact, raw_gaussian=raw), ctx)
