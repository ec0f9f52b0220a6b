"""Trusted checks of Exercise 18.3 — a RealNVP flow and a VAE against an exact Boltzmann density (10 points).

The judge knows the exact density (``double_well.log_density``) and draws its own fresh exact samples, latent
points and importance-sampling draws with the grader's seed. It

- recomputes ``nll_exact`` and its error on the notebook's test samples (rebuilt from ``SEED``, ``N_TEST``, ``TILT``);
- calls ``flow_forward`` at points and their ±h neighbours and compares ``log_det`` with the log-determinant of the
  central-difference Jacobian; calls ``flow_forward(flow_inverse(z))`` at latent points it draws; compares ``flow``
  with ln N(z) + log_det;
- computes the flow's likelihood gap to the exact density (an estimate of D_KL(p‖q)) from ``flow_forward`` on fresh
  exact samples, and the well populations and the u histogram of ``flow_inverse`` of its own latent points (which
  ``flow_forward`` must map back: samples drawn some other way do not count);
- computes the VAE's importance-weighted bound (K = 512) from ``encode`` and ``decode`` with its own draws on fresh
  samples, and the well populations of ``decode`` of prior draws (decoded twice: a function of z, not a sampler);
  recomputes ``nll_elbo`` and ``nll_iwae`` on the first ``N_IWAE`` test points with its own draws (the
  estimators' noise is far below the tolerance);
- recomputes ``kl_flow``, ``kl_flow_error``, ``well_flow`` and ``chi2_ndf`` from ``flow`` on the test samples and
  from ``x_flow``.

Fast mode (in which grading runs), the page's criteria: D_KL < 0.2 nats, the lower well within 0.04 of the exact
0.722, the u histogram's χ² per bin below 6 (as many samples as the page's), the VAE's NLL_IWAE within 0.35 nats of
the exact NLL and its samples' lower well within 0.06; full mode: 0.03, 0.03, 6, 0.15 and 0.03.
"""

import numpy as np
from scipy.special import logsumexp

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import double_well

N_FRESH = 5000  # fresh exact samples for the flow's likelihood gap
N_VAE = 300  # fresh points for the VAE's bound, K_IWAE draws each
N_FD = 100  # points where log_det is compared with central differences
STEP = 1e-3  # of the central differences
U_BINS = np.linspace(-4.5, 4.5, 41)

# the page's criteria (measured with three seeds: fast D_KL 0.041–0.084 nats, wells within 0.018, χ²/bin 2.4–3.3,
# NLL_IWAE 0.19–0.22 above exact; full 0.0044–0.0124, 0.018, 1.4–4.0, 0.033–0.085)
KL_FAST, KL_FULL = 0.2, 0.03
WELL_FAST, WELL_FULL = 0.04, 0.03
CHI2_FAST, CHI2_FULL = 6.0, 6.0
IWAE_FAST, IWAE_FULL = 0.35, 0.15
VAE_WELL_FAST, VAE_WELL_FULL = 0.06, 0.03  # measured 0.018–0.020 and 0.002–0.009

_VAE_EXPRESSION = (
    "(lambda e, eps: [e[0], e[1], *[keras.ops.convert_to_numpy(v) for v in decode("
    "(e[0][:, None] + np.exp(0.5 * e[1])[:, None] * eps).reshape(-1, eps.shape[-1]))]])"
    "([np.asarray(keras.ops.convert_to_numpy(v), dtype='float64') for v in encode({x})], {eps})"
)

exercise = Exercise(
    "18_3_flow_vae_double_well",
    collect={
        "nll_exact": "nll_exact",
        "nll_exact_error": "nll_exact_error",
        "forward_fd": "[keras.ops.convert_to_numpy(v) for v in flow_forward(inputs['x_fd'])]",
        "roundtrip": "keras.ops.convert_to_numpy(flow_forward(flow_inverse(inputs['z_round']))[0])",
        "forward_fresh": "[keras.ops.convert_to_numpy(v) for v in flow_forward(inputs['x'])]",
        "flow_fresh": "flow.predict(inputs['x'], verbose=0)",
        "generated": "flow_inverse(inputs['z'])",
        "generated_back": "keras.ops.convert_to_numpy(flow_forward(flow_inverse(inputs['z']))[0])",
        "flow_test": "flow.predict(x_test, batch_size=4096, verbose=0)",
        "x_flow": "x_flow",
        "kl_flow": "kl_flow",
        "kl_flow_error": "kl_flow_error",
        "well_flow": "well_flow",
        "chi2_ndf": "chi2_ndf",
        "vae_fresh": _VAE_EXPRESSION.format(x="inputs['x_vae']", eps="inputs['eps']"),
        "vae_test": _VAE_EXPRESSION.format(x="x_test[: N_IWAE]", eps="inputs['eps_test']"),
        "vae_prior": "[keras.ops.convert_to_numpy(v) for v in decode(inputs['z_prior'])]",
        "vae_prior_again": "[keras.ops.convert_to_numpy(v) for v in decode(inputs['z_prior'][::-1][:200])]",
        "nll_elbo": "nll_elbo",
        "nll_iwae": "nll_iwae",
    },
)


def _test_samples(params) -> np.ndarray:
    """The notebook's test samples, made as its given cell makes them."""
    return double_well.simulate(params["N_TEST"], params["TILT"], seed=params["SEED"] + 1).astype("float32")


@exercise.inputs
def fresh(ctx):
    rng, p = ctx.rng, ctx.params
    latent, k = p["LATENT"], p["K_IWAE"]
    n_generated = p["N_TEST"]  # as many samples as the page compares, so that its χ² criterion applies
    base = double_well.simulate(N_FD, p["TILT"], seed=rng)
    steps = STEP * np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    sent = {
        "x_fd": (base[:, None, :] + steps[None]).reshape(-1, 2).astype("float32"),
        "z_round": rng.standard_normal((200, 2)).astype("float32"),
        "x": double_well.simulate(N_FRESH, p["TILT"], seed=rng).astype("float32"),
        "z": rng.standard_normal((n_generated, 2)).astype("float32"),
        "x_vae": double_well.simulate(N_VAE, p["TILT"], seed=rng).astype("float32"),
        "eps": rng.standard_normal((N_VAE, k, latent)),
        "eps_test": rng.standard_normal((p["N_IWAE"], k, latent)),
        "z_prior": rng.standard_normal((n_generated, latent)).astype("float32"),
        "noise": rng.standard_normal((n_generated, 2)),
    }
    kept = {"x_test": _test_samples(p), "reference": double_well.simulate(n_generated, p["TILT"], seed=rng)}
    return sent, kept


def u_of(x) -> np.ndarray:
    return (x[:, 0] + x[:, 1]) / np.sqrt(2)


def chi2_per_bin(a, b) -> float:
    """The two-sample χ² per filled bin of the u histograms of two samples of equal size."""
    n_a, _ = np.histogram(u_of(a), U_BINS)
    n_b, _ = np.histogram(u_of(b), U_BINS)
    filled = n_a + n_b > 0
    return float(np.sum((n_a - n_b)[filled] ** 2 / (n_a + n_b)[filled]) / filled.sum())


def lower_well(x, tilt) -> float:
    return float(np.mean(double_well.well_of(x, tilt) == 0))


def log_normal(z) -> np.ndarray:
    return -0.5 * np.sum(z**2, axis=-1) - 0.5 * z.shape[-1] * np.log(2 * np.pi)


def _forward(value, n, name) -> tuple[np.ndarray, np.ndarray]:
    assert len(value) == 2, f"expected {name} to return the pair (z, log_det)"
    return array(value[0], (n, 2), f"z of {name}"), array(value[1], (n,), f"log_det of {name}")


def log_weights(value, x, eps) -> np.ndarray:
    """ln w (n, K) from what encode and decode returned for points x (n, 2) and the judge's draws eps (n, K, L)."""
    assert len(value) == 4, "expected encode to return (z_mean, z_log_var) and decode (x_mean, x_log_sigma)"
    n, k, latent = eps.shape
    z_mean, z_log_var = array(value[0], (n, latent), "z_mean of encode"), array(value[1], (n, latent), "z_log_var")
    x_mean = array(value[2], (n * k, 2), "x_mean of decode").reshape(n, k, 2)
    x_log_sigma = array(value[3], (n * k, 2), "x_log_sigma of decode").reshape(n, k, 2)
    z = z_mean[:, None] + np.exp(0.5 * z_log_var)[:, None] * eps
    log_px = -np.sum(0.5 * ((x[:, None] - x_mean) * np.exp(-x_log_sigma)) ** 2 + x_log_sigma, axis=-1) - np.log(
        2 * np.pi
    )
    log_qz = log_normal(eps) - 0.5 * np.sum(z_log_var, axis=-1)[:, None]
    return log_px + log_normal(z) - log_qz


def bounds(log_w) -> tuple[float, float]:
    """(−ELBO, NLL_IWAE), means over the points, from ln w (n, K)."""
    k = log_w.shape[1]
    return float(-log_w.mean()), float(-np.mean(logsumexp(log_w, axis=1) - np.log(k)))


@exercise.check(task="1", points=1)
def nll_exact_is_the_mean_negative_log_density(r, ctx):
    nll = -double_well.log_density(ctx.kept["x_test"], ctx.params["TILT"])
    got, error = number(r["nll_exact"], "nll_exact"), number(r["nll_exact_error"], "nll_exact_error")
    assert np.isclose(got, nll.mean(), atol=1e-4), f"expected nll_exact = the mean of −ln p(x) over x_test; got {got}"
    assert np.isclose(error, nll.std() / np.sqrt(len(nll)), rtol=0.01), (
        f"expected nll_exact_error = the standard error of that mean; got {error}"
    )


@exercise.check(task="2", points=1)
def flow_inverse_undoes_flow_forward(r, ctx):
    z = ctx.sent["z_round"]
    back = array(r["roundtrip"], z.shape, "flow_forward(flow_inverse(z))[0]")
    worst = float(np.max(np.abs(back - z)))
    assert worst < 2e-3, (
        f"expected flow_forward(flow_inverse(z)) = z at latent points it drew; off by up to {worst:.3g}"
    )


@exercise.check(task="2", points=1)
def log_det_is_the_log_determinant_of_the_jacobian(r, ctx):
    z, log_det = _forward(r["forward_fd"], 5 * N_FD, "flow_forward")
    z, log_det = z.reshape(N_FD, 5, 2), log_det.reshape(N_FD, 5)
    jacobian = np.stack([(z[:, 1] - z[:, 2]) / (2 * STEP), (z[:, 3] - z[:, 4]) / (2 * STEP)], axis=-1)
    off = np.abs(log_det[:, 0] - np.log(np.abs(np.linalg.det(jacobian))))
    # a central difference that straddles a kink of a ReLU network is off: the criterion allows a few such points
    assert np.median(off) < 0.01 and np.mean(off < 0.05) >= 0.9, (
        f"expected log_det = ln|det ∂z/∂x| of flow_forward (central differences at points it drew); off by a median "
        f"{np.median(off):.3f}, more than 0.05 at {np.mean(off >= 0.05):.0%} of them"
    )


@exercise.check(task="2", points=1)
def flow_is_the_change_of_variables(r, ctx):
    z, log_det = _forward(r["forward_fresh"], N_FRESH, "flow_forward")
    log_q = array(r["flow_fresh"], None, "flow.predict(x)").reshape(-1)
    assert log_q.shape == (N_FRESH,), f"expected flow to return one ln q(x) per point; got shape {log_q.shape}"
    worst = float(np.max(np.abs(log_q - log_normal(z) - log_det)))
    assert worst < 1e-3, f"expected flow(x) = ln N(z) + log_det with z, log_det from flow_forward; off by {worst:.3g}"


@exercise.check(task="3", points=1)
def flow_is_close_to_the_exact_density_on_fresh_samples(r, ctx):
    z, log_det = _forward(r["forward_fresh"], N_FRESH, "flow_forward")
    gap = double_well.log_density(ctx.sent["x"], ctx.params["TILT"]) - (log_normal(z) + log_det)
    limit = KL_FAST if ctx.fast else KL_FULL
    kl = float(gap.mean())
    assert kl < limit, (
        f"expected the flow's likelihood gap (D_KL) below {limit} nats on fresh samples; yours is {kl:.4f}"
    )


@exercise.check(task="3", points=1)
def flow_samples_have_the_exact_wells_and_shape(r, ctx):
    x = array(r["generated"], ctx.sent["z"].shape, "flow_inverse(z)")
    tilt = ctx.params["TILT"]
    limit, chi2_limit = (WELL_FAST, CHI2_FAST) if ctx.fast else (WELL_FULL, CHI2_FULL)
    well = lower_well(x, tilt)
    assert abs(well - double_well.well_fraction(tilt)) < limit, (
        f"expected the lower well's share of flow samples within {limit} of the exact one; yours is {well:.4f}"
    )
    back = array(r["generated_back"], ctx.sent["z"].shape, "flow_forward(flow_inverse(z))[0]")
    assert np.max(np.abs(back - ctx.sent["z"])) < 2e-3, "expected samples that flow_forward maps back to their z"
    chi2 = chi2_per_bin(x, ctx.kept["reference"])
    assert chi2 < chi2_limit, (
        f"expected a χ² per bin of u below {chi2_limit} against fresh exact samples; yours is {chi2:.2f}"
    )


@exercise.check(task="3", points=1)
def reported_flow_figures_describe_the_flow(r, ctx):
    x_test, tilt = ctx.kept["x_test"], ctx.params["TILT"]
    log_q = array(r["flow_test"], None, "flow.predict(x_test)").reshape(-1)
    assert log_q.shape == (len(x_test),), "expected flow to return one ln q(x) per test sample"
    gap = double_well.log_density(x_test, tilt) - log_q
    kl, error = number(r["kl_flow"], "kl_flow"), number(r["kl_flow_error"], "kl_flow_error")
    assert np.isclose(kl, gap.mean(), atol=2e-3), f"expected kl_flow from flow on x_test; got {kl:.4f}"
    assert np.isclose(error, gap.std() / np.sqrt(len(gap)), rtol=0.05), (
        f"expected kl_flow_error = the standard error of kl_flow; got {error:.4f}"
    )
    x_flow = array(r["x_flow"], (len(x_test), 2), "x_flow")
    well = number(r["well_flow"], "well_flow")
    assert np.isclose(well, lower_well(x_flow, tilt)), f"expected well_flow from x_flow; got {well:.4f}"
    chi2 = number(r["chi2_ndf"], "chi2_ndf")
    assert np.isclose(chi2, chi2_per_bin(x_flow, x_test), rtol=1e-3), f"expected chi2_ndf from x_flow; got {chi2:.3f}"


@exercise.check(task="4", points=1)
def vae_bound_is_close_to_the_exact_likelihood(r, ctx):
    x = ctx.sent["x_vae"].astype("float64")
    _, nll_iwae = bounds(log_weights(r["vae_fresh"], x, ctx.sent["eps"]))
    gap = nll_iwae - float(-double_well.log_density(x, ctx.params["TILT"]).mean())
    limit = IWAE_FAST if ctx.fast else IWAE_FULL
    assert gap < limit, (
        f"expected the VAE's importance-weighted NLL within {limit} nats of the exact NLL on fresh samples; yours "
        f"is {gap:.3f} above"
    )


@exercise.check(task="4", points=1)
def vae_samples_have_the_exact_wells(r, ctx):
    assert len(r["vae_prior"]) == 2, "expected decode to return (x_mean, x_log_sigma)"
    mean = array(r["vae_prior"][0], ctx.sent["noise"].shape, "x_mean of decode")
    log_sigma = array(r["vae_prior"][1], ctx.sent["noise"].shape, "x_log_sigma of decode")
    again = r["vae_prior_again"]
    assert len(again) == 2 and np.allclose(array(again[0], (200, 2), "x_mean"), mean[::-1][:200], atol=1e-4), (
        "expected decode to be a function of z: the same latent points, decoded again, gave other means"
    )
    x = mean + np.exp(log_sigma) * ctx.sent["noise"]
    tilt = ctx.params["TILT"]
    well = lower_well(x, tilt)
    limit = VAE_WELL_FAST if ctx.fast else VAE_WELL_FULL
    assert abs(well - double_well.well_fraction(tilt)) < limit, (
        f"expected the lower well's share of VAE samples (decode of prior draws) within {limit} of the exact one; "
        f"yours is {well:.4f}"
    )


@exercise.check(task="4", points=1)
def reported_bounds_describe_the_vae(r, ctx):
    x = ctx.kept["x_test"][: ctx.params["N_IWAE"]].astype("float64")
    nll_elbo, nll_iwae = bounds(log_weights(r["vae_test"], x, ctx.sent["eps_test"]))
    for name, reference in (("nll_elbo", nll_elbo), ("nll_iwae", nll_iwae)):
        got = number(r[name], name)
        assert abs(got - reference) < 0.02, (
            f"expected {name} as the page defines it, from encode and decode on the first N_IWAE test points; got "
            f"{got:.4f}"
        )
