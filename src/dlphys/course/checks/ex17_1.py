"""Trusted checks of Exercise 17.1 — removing speckle from SAXS patterns with an autoencoder (10 points).

The judge simulates fresh patterns with :mod:`dlphys.datasets.speckle` (coherent ones as in the training set, and
partially coherent ones like the experimental set) and scores the student's networks and ``predict`` on them, with
the bounds the page states. The win fraction of task (3) and the shift of the first minimum of task (4) are
functions the judge calls on inputs of its own whose answers a student cannot guess: fresh patterns some of whose
"clean" references are the filter's own output (the filter wins those), and estimates that are the clean patterns
of other particles or smoothed counts. The numbers the notebook reports (test losses, log errors, win fractions,
contrasts, minimum shifts) are recomputed from the student's networks, ``predict`` and ``smooth`` (the student's own
filter, so that one wrong filter costs the point of ``smooth`` only) applied to the judge's own copies of the
notebook's data: the test split of ``speckle.load()`` (the notebook's seeded permutation),
``speckle.load(kind="experimental")`` and the isotropic patterns of task (4); they earn points only together with
the functions that make them.
"""

import numpy as np
from scipy import ndimage

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import speckle

exercise = Exercise(
    "17_1_speckle_autoencoder",
    models={"model": "model", "model_plain": "model_plain"},  # saved, and run by the judge in a clean sandbox
    runs={
        "out_fresh": ("model", "x_fresh"),
        "out_fresh_plain": ("model_plain", "x_fresh"),
        "out_split": ("model", "x_split"),
        "out_split_plain": ("model_plain", "x_split"),
    },
    collect={
        "layers": "[type(layer).__name__ for layer in model.layers]",
        "layers_plain": "[type(layer).__name__ for layer in model_plain.layers]",
        "history": "history",
        "history_plain": "history_plain",
        "test_loss": "test_loss",
        "test_loss_plain": "test_loss_plain",
        "predict_fresh": "predict(inputs['counts_fresh'])",
        "predict_split": "predict(inputs['counts_split'])",
        "predict_split_plain": "predict(inputs['counts_split'], model_plain)",
        "smooth_fresh": "smooth(inputs['counts_fresh'][:8], inputs['sigma'])",
        "sigma_best": "sigma_best",
        "filter_errors": "filter_errors",
        "error_unet": "error_unet",
        "error_plain": "error_plain",
        "error_filter": "error_filter",
        "predict_exp": "predict(inputs['counts_exp'])",
        "predict_exp_fresh": "predict(inputs['counts_exp_fresh'])",
        "error_exp": "error_exp",
        "win_fraction": "win_fraction",
        "contrast_before": "contrast_before",
        "contrast_after": "contrast_after",
        "predict_iso": "predict(inputs['counts_iso'])",
        "minimum_shift": "minimum_shift",
        "predict_win": "predict(inputs['counts_win'])",
        "smooth_split": "smooth(inputs['counts_split'], sigma_best)",
        "smooth_exp": "smooth(inputs['counts_exp'], sigma_best)",
        "smooth_win": "smooth(inputs['counts_win'], sigma_best)",
        "smooth_iso": "smooth(inputs['counts_iso'], sigma_best)",
        "win_fraction_fresh": "unet_win_fraction(inputs['counts_win'], inputs['clean_win'])",
        "shift_fresh": "first_minimum_shift(inputs['estimates_min'], inputs['clean_min'], inputs['radius_min'])",
    },
)

N_FRESH, N_EXP_FRESH = 48, 32  # fresh coherent and partially coherent patterns
N_WIN, N_MIN = 24, 24  # fresh patterns for unet_win_fraction and first_minimum_shift


def _log_scale(patterns, counts, reference):
    total = np.sum(counts, axis=(-2, -1), keepdims=True, dtype=np.float64)
    return np.log1p(np.asarray(patterns, dtype=np.float64) * (reference / total)).astype("float32")[..., None]


def _log_error(estimates, clean, reference, axis=None):
    scale = reference / np.sum(clean, axis=(-2, -1), keepdims=True, dtype=np.float64)
    diff = np.log1p(np.asarray(estimates, dtype=np.float64) * scale) - np.log1p(np.asarray(clean, np.float64) * scale)
    return np.mean(diff**2, axis=axis)


def _smooth(counts, sigma):
    return ndimage.gaussian_filter(np.asarray(counts, dtype=np.float64), sigma=(0, sigma, sigma))


def _radial_profile(patterns, q_pixel):
    patterns = np.asarray(patterns, dtype=np.float64)
    size = patterns.shape[-1]
    k = np.arange(size) - size // 2
    ring = np.rint(np.hypot(*np.meshgrid(k, k, indexing="ij"))).astype(int).ravel()
    n_rings = size // 2
    inside = ring < n_rings
    counts = np.bincount(ring[inside], minlength=n_rings)
    sums = np.stack([np.bincount(ring[inside], weights=p.ravel()[inside], minlength=n_rings) for p in patterns])
    return np.arange(n_rings) * q_pixel, sums / counts


def _first_minimum(q, profiles, radius):
    q_guess = 4.493 / np.asarray(radius, dtype=np.float64)
    window = (q[None, :] >= 0.75 * q_guess[:, None]) & (q[None, :] <= 1.25 * q_guess[:, None])
    return q[np.argmin(np.where(window, profiles, np.inf), axis=1)]


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    ref = p["REFERENCE_PHOTONS"]
    rng = ctx.rng
    data = speckle.load(fast=ctx.fast)
    experimental = speckle.load(fast=ctx.fast, kind="experimental")
    size = float(data["speckle_size"])
    n_all = len(data["clean"])
    order = np.random.default_rng(p["SEED"]).permutation(n_all)  # the notebook's split (rng of seed_everything)
    n_test, n_val = int(p["TEST_FRACTION"] * n_all), int(p["VAL_FRACTION"] * n_all)
    test, val = order[:n_test], order[n_test : n_test + n_val]
    seeds = rng.integers(10_000, 2**31, size=4)
    new = speckle.simulate(N_FRESH, size=64, seed=int(seeds[0]), modes=1, photons=1e6, speckle_size=size)
    new_exp = speckle.simulate(N_EXP_FRESH, size=64, seed=int(seeds[1]), modes=4, photons=3e5, speckle_size=size)
    iso = speckle.simulate(
        p["N_ISOTROPIC"],
        size=64,
        seed=1704,
        modes=1,
        photons=1e6,
        speckle_size=size,
        aspect=1.0,
        polydispersity=(0.03, 0.08),
    )
    counts_split, clean_split = data["speckled"][test], data["clean"][test]
    counts_val, clean_val = data["speckled"][val], data["clean"][val]
    filter_errors = [float(_log_error(_smooth(counts_val, s), clean_val, ref)) for s in p["SIGMAS"]]
    sigma_best = p["SIGMAS"][int(np.argmin(filter_errors))]
    # unet_win_fraction: for a random subset of fresh patterns the "clean" reference is the filter's own output, so
    # the filter wins those and the fraction is not near 1 for a good network
    win = speckle.simulate(N_WIN, size=64, seed=int(seeds[2]), modes=1, photons=1e6, speckle_size=size)
    clean_win = np.array(win["clean"], dtype=np.float64)
    filter_exact = rng.choice(N_WIN, int(rng.integers(4, N_WIN - 4)), replace=False)
    clean_win[filter_exact] = _smooth(win["speckled"][filter_exact], sigma_best)
    # first_minimum_shift: estimates that are the clean patterns of other particles, or smoothed counts
    iso_min = speckle.simulate(
        N_MIN,
        size=64,
        seed=int(seeds[3]),
        modes=1,
        photons=1e6,
        speckle_size=size,
        aspect=1.0,
        polydispersity=(0.03, 0.08),
    )
    other = rng.permutation(N_MIN)
    estimates_min = np.where(
        (rng.random(N_MIN) < 0.5)[:, None, None],
        iso_min["clean"][other],
        _smooth(iso_min["speckled"], float(rng.choice(p["SIGMAS"]))),
    )
    sent = {
        "x_fresh": _log_scale(new["speckled"], new["speckled"], ref),
        "x_split": _log_scale(counts_split, counts_split, ref),
        "counts_fresh": new["speckled"],
        "counts_split": counts_split,
        "counts_exp": experimental["speckled"],
        "counts_exp_fresh": new_exp["speckled"],
        "counts_iso": iso["speckled"],
        "sigma": np.array(float(rng.choice(p["SIGMAS"]))),
        "counts_win": win["speckled"],
        "clean_win": clean_win,
        "estimates_min": estimates_min,
        "clean_min": iso_min["clean"],
        "radius_min": iso_min["radius"],
    }
    kept = {
        "speckle_size": size,
        "q_pixel": float(data["q_pixel"]),
        "clean_fresh": new["clean"],
        "y_fresh": _log_scale(new["clean"], new["speckled"], ref),
        "y_split": _log_scale(clean_split, counts_split, ref),
        "clean_split": clean_split,
        "clean_exp": experimental["clean"],
        "clean_exp_fresh": new_exp["clean"],
        "clean_iso": iso["clean"],
        "radius_iso": iso["radius"],
        "filter_errors": filter_errors,
        "sigma_best": sigma_best,
    }
    return sent, kept


def _estimate(value, like, name):
    out = array(value, np.shape(like), name)
    assert np.all(out >= 0), f"expected non-negative photons per pixel from {name}"
    return out


def _sigma_best(r, ctx):
    sigma = number(r["sigma_best"], "sigma_best")
    assert any(np.isclose(sigma, s) for s in ctx.params["SIGMAS"]), f"expected sigma_best from SIGMAS, got {sigma}"
    return sigma


# ----------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def networks_have_the_asked_structure(r, ctx):
    x = ctx.sent["x_fresh"]
    array(r["out_fresh"], x.shape, "model.predict(x) for (n, 64, 64, 1) inputs")
    array(r["out_fresh_plain"], x.shape, "model_plain.predict(x) for (n, 64, 64, 1) inputs")
    layers, layers_plain = list(r["layers"]), list(r["layers_plain"])
    assert len(layers) > 6, f"expected a deep network, got {len(layers)} layers in `model`"
    assert "Concatenate" in layers, "expected skip connections (Concatenate layers) in `model`"
    assert "Concatenate" not in layers_plain, "expected no skip connections in model_plain"


@exercise.check(task="1", points=1)
def histories_cover_every_epoch_with_validation(r, ctx):
    epochs = ctx.params["EPOCHS"]
    for name in ("history", "history_plain"):
        history = r[name]
        assert isinstance(history, dict) and {"loss", "val_loss"} <= set(history), (
            f"expected `{name}` from fit with validation data (keys 'loss' and 'val_loss')"
        )
        for key in ("loss", "val_loss"):
            n = array(history[key], name=f"{name}.history[{key!r}]").size
            assert n == epochs, f"expected EPOCHS = {epochs} entries in {name}.history[{key!r}], got {n}"


@exercise.check(task="1", points=1)
def networks_denoise_fresh_patterns(r, ctx):
    x, y = ctx.sent["x_fresh"].astype(float), ctx.kept["y_fresh"].astype(float)
    raw = float(np.mean((x - y) ** 2))
    mse = float(np.mean((array(r["out_fresh"], x.shape, "model.predict(x)") - y) ** 2))
    mse_plain = float(np.mean((array(r["out_fresh_plain"], x.shape, "model_plain.predict(x)") - y) ** 2))
    assert mse < 0.5 * raw, (
        f"expected the U-Net's MSE on fresh patterns below half that of the raw counts, got {mse / raw:.2f} × it"
    )
    assert mse_plain < raw, (
        f"expected model_plain's MSE on fresh patterns below that of the raw counts, got {mse_plain / raw:.2f} × it"
    )


# ----------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def predict_is_on_the_scale_of_clean_and_beats_counts_and_filter(r, ctx):
    ref, counts, clean = ctx.params["REFERENCE_PHOTONS"], ctx.sent["counts_fresh"], ctx.kept["clean_fresh"]
    estimate = _estimate(r["predict_fresh"], clean, "predict(counts)")
    bright = clean > 1.0
    ratio = float(np.median(estimate[bright] / clean[bright]))
    assert 0.75 < ratio < 1.33, (
        f"expected predict on the scale of clean (median ratio to clean on bright pixels near 1), got {ratio:.3f}"
    )
    photons = estimate.sum(axis=(1, 2)) / clean.sum(axis=(1, 2))
    assert np.all((photons > 1 / 8) & (photons < 8)), (
        f"expected the total photons of each estimate within a factor 8 of clean, got {photons.min():.2f} to "
        f"{photons.max():.2f}"
    )
    error = float(_log_error(estimate, clean, ref))
    raw = float(_log_error(counts, clean, ref))
    filtered = float(_log_error(_smooth(counts, ctx.kept["sigma_best"]), clean, ref))
    assert error < 0.5 * raw, f"expected the log error of the counts at least halved, got {error / raw:.2f} × it"
    assert error < 1.15 * filtered, (
        "expected predict about as good as the best filter or better (< 1.15 × its log error), got "
        f"{error / filtered:.2f} × it"
    )


@exercise.check(task="2", points=1)
def smooth_and_sigma_best_are_the_gaussian_filter(r, ctx):
    counts, sigma = ctx.sent["counts_fresh"][:8], float(ctx.sent["sigma"])
    got = array(r["smooth_fresh"], counts.shape, f"smooth(counts, {sigma})")
    assert np.allclose(got, _smooth(counts, sigma), rtol=1e-4, atol=1e-6), (
        "expected smooth(counts, sigma) to be scipy.ndimage.gaussian_filter of width sigma per pattern, default mode"
    )
    errors = array(r["filter_errors"], (len(ctx.params["SIGMAS"]),), "filter_errors")
    assert np.allclose(errors, ctx.kept["filter_errors"], rtol=1e-4), (
        "expected filter_errors = log_error of smooth(counts_val, sigma) against clean_val, one per sigma of SIGMAS"
    )
    sigma_best = _sigma_best(r, ctx)
    assert np.isclose(sigma_best, ctx.kept["sigma_best"]), (
        f"expected sigma_best to be the width with the smallest validation error, got {sigma_best}"
    )


@exercise.check(task="2", points=1)
def test_losses_and_log_errors_are_recomputed(r, ctx):
    ref = ctx.params["REFERENCE_PHOTONS"]
    x, y = ctx.sent["x_split"].astype(float), ctx.kept["y_split"].astype(float)
    raw = float(np.mean((x - y) ** 2))
    for name, out in (("test_loss", "out_split"), ("test_loss_plain", "out_split_plain")):
        value = number(r[name], name)
        mse = float(np.mean((array(r[out], x.shape, "the networks' output on x_test") - y) ** 2))
        assert np.isclose(value, mse, rtol=2e-3), f"expected {name} = MSE on x_test, y_test, got {value:.4f}"
    assert number(r["test_loss"]) < 0.5 * raw, "expected the test loss well below that of the raw counts"
    clean = ctx.kept["clean_split"]
    pairs = (
        ("error_unet", r["predict_split"], "predict(counts_test)"),
        ("error_plain", r["predict_split_plain"], "predict(counts_test, model_plain)"),
        ("error_filter", r["smooth_split"], "smooth(counts_test, sigma_best)"),
    )
    for name, estimate, what in pairs:
        value = number(r[name], name)
        assert np.isclose(value, _log_error(_estimate(estimate, clean, what), clean, ref), rtol=1e-3), (
            f"expected {name} = log_error of {what} against clean_test, got {value:.4f}"
        )


# ----------------------------------------------------------------------------------------------- task 3
def _win_share(estimate, filtered, clean, ref):
    """The fraction of patterns where ``estimate`` has a smaller log error than ``filtered`` (the student's filter)."""
    unet = _log_error(_estimate(estimate, clean, "predict"), clean, ref, axis=(1, 2)).ravel()
    filtered = _log_error(_estimate(filtered, clean, "smooth(counts, sigma_best)"), clean, ref, axis=(1, 2)).ravel()
    return float(np.mean(unet < filtered))


@exercise.check(task="3", points=1)
def predict_on_partially_coherent_patterns_and_error_exp(r, ctx):
    ref = ctx.params["REFERENCE_PHOTONS"]
    fresh_clean = ctx.kept["clean_exp_fresh"]
    fresh = _log_error(_estimate(r["predict_exp_fresh"], fresh_clean, "predict(counts)"), fresh_clean, ref)
    fresh_raw = _log_error(ctx.sent["counts_exp_fresh"], fresh_clean, ref)
    assert fresh < 0.35 * fresh_raw, (
        f"expected the U-Net to reduce the log error of fresh partially coherent counts by 65 %, got "
        f"{fresh / fresh_raw:.2f} × it"
    )
    counts, clean = ctx.sent["counts_exp"], ctx.kept["clean_exp"]
    error_exp = r["error_exp"]
    assert isinstance(error_exp, dict) and set(error_exp) == {"raw counts", "filter", "U-Net"}, (
        "expected error_exp with the keys 'raw counts', 'filter', 'U-Net'"
    )
    expected = {
        "raw counts": _log_error(counts, clean, ref),
        "filter": _log_error(_estimate(r["smooth_exp"], clean, "smooth(counts_exp, sigma_best)"), clean, ref),
        "U-Net": _log_error(_estimate(r["predict_exp"], clean, "predict(counts_exp)"), clean, ref),
    }
    for key, value in expected.items():
        got = number(error_exp[key], f"error_exp[{key!r}]")
        assert np.isclose(got, value, rtol=0.02), f"expected error_exp[{key!r}] = its log_error, got {got:.4f}"


@exercise.check(task="3", points=1)
def unet_win_fraction_on_the_graders_patterns(r, ctx):
    ref = ctx.params["REFERENCE_PHOTONS"]
    counts, clean = ctx.sent["counts_win"], ctx.sent["clean_win"]
    share = _win_share(r["predict_win"], r["smooth_win"], clean, ref)
    got = number(r["win_fraction_fresh"], "unet_win_fraction(counts, clean)")
    assert abs(got - share) <= 1 / len(counts) + 1e-9, (
        "expected unet_win_fraction(counts, clean) = the fraction of patterns where the log error of predict is "
        f"smaller than that of smooth(counts, sigma_best), got {got:.3f} on patterns of the grader"
    )
    wins = r["win_fraction"]
    assert isinstance(wins, dict) and set(wins) == {"coherent test", "experimental"}, (
        "expected win_fraction with the keys 'coherent test', 'experimental'"
    )
    sets = {
        "coherent test": (r["predict_split"], r["smooth_split"], ctx.kept["clean_split"]),
        "experimental": (r["predict_exp"], r["smooth_exp"], ctx.kept["clean_exp"]),
    }
    for key, (estimate, filtered, cln) in sets.items():
        share = _win_share(estimate, filtered, cln, ref)
        got = number(wins[key], f"win_fraction[{key!r}]")
        assert abs(got - share) <= 2 / len(cln) + 1e-9, (
            f"expected win_fraction[{key!r}] = unet_win_fraction of that set, got {got:.3f}"
        )


# ----------------------------------------------------------------------------------------------- task 4
#: The page's bounds on the residual contrast of ``predict`` (fast mode, the grading mode): coherent, partially coherent
RESIDUAL_BOUNDS = {"coherent": 0.7, "partially coherent": 0.9}


def _contrast(estimates, clean, ctx):
    return speckle.speckle_contrast(
        estimates, clean, speckle_size=ctx.kept["speckle_size"], min_photons=ctx.params["MIN_PHOTONS"]
    )


@exercise.check(task="4", points=1)
def predict_removes_speckle_contrast_and_contrasts_are_recomputed(r, ctx):
    fresh = {
        "coherent": (ctx.sent["counts_fresh"], ctx.kept["clean_fresh"], r["predict_fresh"]),
        "partially coherent": (ctx.sent["counts_exp_fresh"], ctx.kept["clean_exp_fresh"], r["predict_exp_fresh"]),
    }
    for what, (counts, clean, estimate) in fresh.items():
        residual = _contrast(_estimate(estimate, clean, "predict(counts)"), clean, ctx) / _contrast(counts, clean, ctx)
        assert residual < RESIDUAL_BOUNDS[what], (
            f"expected a residual contrast below {RESIDUAL_BOUNDS[what]} on fresh {what} patterns, got {residual:.3f}"
        )
    clean = ctx.kept["clean_split"]
    got_before = number(r["contrast_before"], "contrast_before")
    got_after = number(r["contrast_after"], "contrast_after")
    expected = _contrast(ctx.sent["counts_split"], clean, ctx)
    assert np.isclose(got_before, expected, rtol=1e-6), (
        f"expected contrast_before from counts_test with min_photons=MIN_PHOTONS, got {got_before:.3f}"
    )
    estimate = _estimate(r["predict_split"], clean, "predict(counts_test)")
    assert np.isclose(got_after, _contrast(estimate, clean, ctx), rtol=0.02), (
        "expected contrast_after = the contrast of predict(counts_test) with min_photons=MIN_PHOTONS, got "
        f"{got_after:.3f}"
    )


def _mean_shift(estimates, clean, radius, q_pixel):
    q, profile = _radial_profile(clean, q_pixel)
    q_min_clean = _first_minimum(q, profile, radius)
    return float(np.mean(np.abs(_first_minimum(q, _radial_profile(estimates, q_pixel)[1], radius) - q_min_clean)))


@exercise.check(task="4", points=1)
def first_minimum_shift_on_the_graders_patterns(r, ctx):
    q_pixel = ctx.kept["q_pixel"]
    expected = _mean_shift(ctx.sent["estimates_min"], ctx.sent["clean_min"], ctx.sent["radius_min"], q_pixel)
    got = number(r["shift_fresh"], "first_minimum_shift(estimates, clean, radius)")
    assert abs(got - expected) < 1e-6, (
        "expected first_minimum_shift = the mean |q_min,estimate - q_min,clean| of the azimuthal averages, with "
        f"q_min the smallest ring in 0.75-1.25 × 4.493/R; got {got:.4f} nm^-1 on patterns of the grader"
    )
    shift = r["minimum_shift"]
    assert isinstance(shift, dict) and set(shift) == {"counts", "filter", "U-Net"}, (
        "expected minimum_shift with the keys 'counts', 'filter', 'U-Net'"
    )
    clean, radius, counts = ctx.kept["clean_iso"], ctx.kept["radius_iso"], ctx.sent["counts_iso"]
    estimates = {
        "counts": counts,
        "filter": _estimate(r["smooth_iso"], clean, "smooth(isotropic['speckled'], sigma_best)"),
        "U-Net": _estimate(r["predict_iso"], clean, "predict(isotropic['speckled'])"),
    }
    for key, estimate in estimates.items():
        got = number(shift[key], f"minimum_shift[{key!r}]")
        assert abs(got - _mean_shift(estimate, clean, radius, q_pixel)) < 0.005, (
            f"expected minimum_shift[{key!r}] = first_minimum_shift of its estimates, got {got:.4f}"
        )
