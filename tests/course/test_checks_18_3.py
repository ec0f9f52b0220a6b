"""The judge of 18.3 against models whose quality is known: the exact transport map as a flow and as a VAE."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp, ndtr, ndtri

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex18_3 as judge
from dlphys.datasets import double_well

PARAMS = {"N_TEST": 5000, "N_IWAE": 500, "K_IWAE": 512, "LATENT": 2, "TILT": 0.2, "SEED": 42}
SIGMA = 1e-3  # the exact VAE's decoder width


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("18_3_flow_vae_double_well")
    ctx = Context("18_3_flow_vae_double_well", 5, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def _log_pu(u):
    log_zu = double_well.log_partition(0.2) - 0.5 * np.log(2 * np.pi)
    return -(u**4 / 4 - 3 * u**2 + 0.2 * u) - log_zu


def exact_forward(x):
    """The exact transport map x → z (u → Φ⁻¹(F(u)), v → v) and its log-determinant."""
    x = np.asarray(x, dtype=float)
    u, v = (x[:, 0] + x[:, 1]) / np.sqrt(2), (x[:, 1] - x[:, 0]) / np.sqrt(2)
    grid, cdf = double_well._u_table(0.2)
    z1 = ndtri(np.clip(np.interp(u, grid, cdf), 1e-15, 1 - 1e-15))
    return np.column_stack([z1, v]), _log_pu(u) + 0.5 * z1**2 + 0.5 * np.log(2 * np.pi)


def exact_inverse(z):
    grid, cdf = double_well._u_table(0.2)
    u, v = np.interp(ndtr(z[:, 0]), cdf, grid), z[:, 1]
    return np.column_stack([(u - v) / np.sqrt(2), (u + v) / np.sqrt(2)])


def _log_q(forward, x):
    z, log_det = forward(x)
    return judge.log_normal(z) + log_det


def gaussian_forward(x):
    """A 'flow' that only standardises: a Gaussian with the data's mean and width."""
    shift, scale = np.array([0.0, 0.0]), np.array([1.9, 1.9])
    return (np.asarray(x, dtype=float) - shift) / scale, np.full(len(x), -np.sum(np.log(scale)))


def gaussian_inverse(z):
    return np.asarray(z) * 1.9


def _vae(x, eps, exact=True):
    """encode/decode outputs of the exact VAE (decoder = exact inverse map, width SIGMA; encoder = its posterior)."""
    z, _ = exact_forward(x)
    if exact:
        u = (x[:, 0] + x[:, 1]) / np.sqrt(2)
        du_dz1 = np.exp(-0.5 * z[:, 0] ** 2 - 0.5 * np.log(2 * np.pi) - _log_pu(u))
        log_var = np.column_stack([2 * np.log(SIGMA / du_dz1), np.full(len(x), 2 * np.log(SIGMA))])
    else:
        z, log_var = np.zeros_like(z), np.zeros_like(z)
    zs = (z[:, None] + np.exp(0.5 * log_var)[:, None] * eps).reshape(-1, 2)
    mean, log_sigma = _decode(zs, exact)
    return [z, log_var, mean, log_sigma]


def _decode(z, exact=True):
    if exact:
        return [exact_inverse(z), np.full((len(z), 2), np.log(SIGMA))]
    return [np.zeros((len(z), 2)), np.full((len(z), 2), np.log(1.9))]


def _results(ctx, forward=exact_forward, inverse=exact_inverse, exact_vae=True):
    sent, kept = ctx.sent, ctx.kept
    x_test = kept["x_test"]
    nll = -double_well.log_density(x_test, 0.2)
    x_flow = inverse(np.random.default_rng(1).standard_normal((len(x_test), 2)))
    gap = -nll - _log_q(forward, x_test)
    x_bound = x_test[: PARAMS["N_IWAE"]].astype(float)
    vae_test = _vae(x_bound, sent["eps_test"], exact_vae)
    nll_elbo, nll_iwae = judge.bounds(judge.log_weights(vae_test, x_bound, sent["eps_test"]))
    return {
        "nll_exact": nll.mean(),
        "nll_exact_error": nll.std() / np.sqrt(len(nll)),
        "forward_fd": list(forward(sent["x_fd"])),
        "roundtrip": forward(inverse(sent["z_round"]))[0],
        "forward_fresh": list(forward(sent["x"])),
        "flow_fresh": _log_q(forward, sent["x"])[:, None],
        "generated": inverse(sent["z"]),
        "generated_back": forward(inverse(sent["z"]))[0],
        "flow_test": _log_q(forward, x_test)[:, None],
        "x_flow": x_flow,
        "kl_flow": gap.mean(),
        "kl_flow_error": gap.std() / np.sqrt(len(gap)),
        "well_flow": judge.lower_well(x_flow, 0.2),
        "chi2_ndf": judge.chi2_per_bin(x_flow, x_test),
        "vae_fresh": _vae(sent["x_vae"].astype(float), sent["eps"], exact_vae),
        "vae_test": vae_test,
        "vae_prior": _decode(sent["z_prior"], exact_vae),
        "vae_prior_again": _decode(sent["z_prior"][::-1][:200], exact_vae),
        "nll_elbo": nll_elbo,
        "nll_iwae": nll_iwae,
    }


def test_the_exact_transport_map_as_flow_and_vae_earns_every_point(prepared):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx), ctx) == {"1": 1, "2": 3, "3": 3, "4": 3}


def test_the_exact_vaes_bounds_are_the_exact_likelihood(prepared):
    """With the decoder's true posterior as encoder, ELBO and IWAE both equal ln p(x) (up to the tiny width)."""
    _, ctx = prepared
    x = ctx.sent["x_vae"].astype(float)
    log_w = judge.log_weights(_vae(x, ctx.sent["eps"]), x, ctx.sent["eps"])
    nll_elbo, nll_iwae = judge.bounds(log_w)
    exact = -double_well.log_density(x, 0.2).mean()
    assert abs(nll_iwae - exact) < 0.01 and nll_elbo >= nll_iwae and nll_elbo - nll_iwae < 0.01
    assert np.isclose(-np.mean(logsumexp(log_w, axis=1) - np.log(log_w.shape[1])), nll_iwae)


def test_a_gaussian_flow_is_a_valid_flow_but_far_from_the_density(prepared):
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, gaussian_forward, gaussian_inverse), ctx)
    assert per_task["2"] == 3 and per_task["3"] == 1  # only its honestly reported figures count


def test_a_log_det_without_the_standardisation_loses_its_points(prepared):
    exercise, ctx = prepared

    def forgetful(x):
        z, log_det = gaussian_forward(x)
        return z, log_det + 2 * np.log(1.9)

    per_task = exercise.points(_results(ctx, forgetful, gaussian_inverse), ctx)
    assert per_task["2"] == 2  # the Jacobian check fails; flow = ln N(z) + log_det still holds for its own log_det


def test_a_vae_whose_decoder_ignores_z_loses_the_quality_points(prepared):
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, exact_vae=False), ctx)
    assert per_task["4"] == 1  # the reported bounds still describe it


def test_reported_numbers_that_do_not_describe_the_models_lose_their_points(prepared):
    exercise, ctx = prepared
    results = _results(ctx, gaussian_forward, gaussian_inverse, exact_vae=False)
    results.update(kl_flow=0.005, nll_iwae=results["nll_exact"] + 0.01)
    per_task = exercise.points(results, ctx)
    assert per_task["3"] == 0 and per_task["4"] == 0


def test_samples_drawn_from_the_simulator_instead_of_the_models_do_not_count(prepared):
    """A cheat: flow_inverse and decode return exact samples from double_well.simulate, whatever z is."""
    exercise, ctx = prepared
    results = _results(ctx, gaussian_forward, gaussian_inverse, exact_vae=False)
    rng = np.random.default_rng(3)
    n = len(ctx.sent["z"])
    results["generated"] = double_well.simulate(n, seed=rng)
    results["generated_back"] = gaussian_forward(results["generated"])[0]
    results["vae_prior"] = [double_well.simulate(n, seed=rng), np.full((n, 2), -9.0)]
    results["vae_prior_again"] = [double_well.simulate(200, seed=rng), np.full((200, 2), -9.0)]
    names = {v.name: v.points for v in exercise.judge(results, ctx)}
    assert names["flow_samples_have_the_exact_wells_and_shape"] == 0 and names["vae_samples_have_the_exact_wells"] == 0
