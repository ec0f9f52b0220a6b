"""The judge of 17.1 against denoisers whose quality is known: the clean patterns themselves, and worse ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex17_1 as judge

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {
    "EPOCHS": 8,
    "VAL_FRACTION": 0.1,
    "TEST_FRACTION": 0.1,
    "REFERENCE_PHOTONS": 1e6,
    "SIGMAS": [0.7, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
    "N_ISOTROPIC": 40,
    "MIN_PHOTONS": 50.0,
    "SEED": 42,
}


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("17_1_speckle_autoencoder")
    ctx = Context("17_1_speckle_autoencoder", 5, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def _results(ctx, denoiser="exact", speckle_kept=0.0):
    """What a notebook returns whose ``predict`` is ``denoiser`` of the counts.

    ``"exact"``: the clean pattern times (counts / clean) ** speckle_kept (0: the clean pattern itself, 1: the
    counts); ``"filter"``: the Gaussian filter of width ``sigma_best``; ``"mean"``: the mean test pattern scaled to the
    total counts, which ignores the pattern. Every reported number is computed from it.
    """
    ref, sent, kept = PARAMS["REFERENCE_PHOTONS"], ctx.sent, ctx.kept
    sigma_best = kept["sigma_best"]

    mean_log = np.mean(kept["y_split"][..., 0], axis=0, dtype=np.float64)

    def predict(counts, clean):
        if denoiser == "filter":
            return judge._smooth(counts, sigma_best)
        if denoiser == "mean":
            return np.expm1(mean_log)[None] * np.sum(counts, axis=(1, 2), keepdims=True) / ref
        ratio = np.asarray(counts, dtype=np.float64) / np.maximum(clean, 1e-12)
        return clean * ratio**speckle_kept

    def contrast(estimates, clean):
        return judge.speckle.speckle_contrast(estimates, clean, speckle_size=3.0, min_photons=PARAMS["MIN_PHOTONS"])

    counts_split, clean_split = sent["counts_split"], kept["clean_split"]
    counts_exp, clean_exp = sent["counts_exp"], kept["clean_exp"]
    # the win patterns' clean references are partly the filter's output: any estimate will do for the consistency
    # of win_fraction_fresh, take one that wins some patterns
    predict_win = judge._smooth(sent["counts_win"], 1.0)
    estimates = {
        "split": predict(counts_split, clean_split),
        "exp": predict(counts_exp, clean_exp),
        "iso": predict(sent["counts_iso"], kept["clean_iso"]),
        "fresh": predict(sent["counts_fresh"], kept["clean_fresh"]),
    }
    smooth = {name: judge._smooth(sent[f"counts_{name}"], sigma_best) for name in ("split", "exp", "win", "iso")}
    out_split = judge._log_scale(estimates["split"], counts_split, ref)
    history = {"loss": [0.1] * PARAMS["EPOCHS"], "val_loss": [0.1] * PARAMS["EPOCHS"]}
    q_pixel = kept["q_pixel"]
    return {
        "layers": ["InputLayer", "Rescaling", "Conv2D", "Conv2D", "Conv2DTranspose", "Concatenate", "Conv2D"],
        "layers_plain": ["InputLayer", "Rescaling", "Conv2D", "Conv2D", "Conv2DTranspose", "Conv2D", "Conv2D"],
        "history": history,
        "history_plain": history,
        "out_fresh": judge._log_scale(estimates["fresh"], sent["counts_fresh"], ref),
        "out_fresh_plain": judge._log_scale(estimates["fresh"], sent["counts_fresh"], ref),
        "out_split": out_split,
        "out_split_plain": out_split,
        "test_loss": float(np.mean((out_split - kept["y_split"]) ** 2)),
        "test_loss_plain": float(np.mean((out_split - kept["y_split"]) ** 2)),
        "predict_fresh": estimates["fresh"],
        "predict_split": estimates["split"],
        "predict_split_plain": estimates["split"],
        "smooth_fresh": judge._smooth(sent["counts_fresh"][:8], float(sent["sigma"])),
        "sigma_best": sigma_best,
        "filter_errors": kept["filter_errors"],
        "error_unet": judge._log_error(estimates["split"], clean_split, ref),
        "error_plain": judge._log_error(estimates["split"], clean_split, ref),
        "error_filter": judge._log_error(smooth["split"], clean_split, ref),
        "predict_exp": estimates["exp"],
        "predict_exp_fresh": predict(sent["counts_exp_fresh"], kept["clean_exp_fresh"]),
        "error_exp": {
            "raw counts": judge._log_error(counts_exp, clean_exp, ref),
            "filter": judge._log_error(smooth["exp"], clean_exp, ref),
            "U-Net": judge._log_error(estimates["exp"], clean_exp, ref),
        },
        "win_fraction": {
            "coherent test": judge._win_share(estimates["split"], smooth["split"], clean_split, ref),
            "experimental": judge._win_share(estimates["exp"], smooth["exp"], clean_exp, ref),
        },
        "contrast_before": contrast(counts_split, clean_split),
        "contrast_after": contrast(estimates["split"], clean_split),
        "predict_iso": estimates["iso"],
        "minimum_shift": {
            name: judge._mean_shift(estimate, kept["clean_iso"], kept["radius_iso"], q_pixel)
            for name, estimate in (
                ("counts", sent["counts_iso"]),
                ("filter", smooth["iso"]),
                ("U-Net", estimates["iso"]),
            )
        },
        "predict_win": predict_win,
        "smooth_split": smooth["split"],
        "smooth_exp": smooth["exp"],
        "smooth_win": smooth["win"],
        "smooth_iso": smooth["iso"],
        "win_fraction_fresh": judge._win_share(predict_win, smooth["win"], sent["clean_win"], ref),
        "shift_fresh": judge._mean_shift(sent["estimates_min"], sent["clean_min"], sent["radius_min"], q_pixel),
    }


def test_the_clean_patterns_as_a_denoiser_earn_every_point(prepared):
    exercise, ctx = prepared
    assert sum(exercise.points(_results(ctx), ctx).values()) == 10


def test_a_denoiser_that_keeps_a_fifth_of_the_speckle_still_passes(prepared):
    """(counts / clean) ** 0.2: residual contrast about 0.2 on coherent and on partially coherent patterns."""
    exercise, ctx = prepared
    assert exercise.points(_results(ctx, speckle_kept=0.2), ctx)["4"] == 2


@pytest.mark.parametrize("kept", [0.8, 1.0])
def test_a_denoiser_that_keeps_most_of_the_speckle_loses_the_contrast_point(prepared, kept):
    """Residual contrast about 0.8 (above the coherent bound 0.7) or 1 (the counts themselves)."""
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, speckle_kept=kept), ctx)
    assert per_task["4"] == 1  # first_minimum_shift and its numbers still earn theirs


def test_the_gaussian_filter_as_a_denoiser_loses_the_contrast_point_only_in_task_4(prepared):
    """The filter blurs: its ratio to clean keeps most of the contrast on bright pixels, more where rings are sharp."""
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, denoiser="filter"), ctx)
    assert per_task["4"] == 1 and per_task["2"] == 3


def test_a_denoiser_that_ignores_the_counts_loses_the_points_of_its_quality(prepared):
    """The mean pattern: log error of partially coherent counts cut by 0 to 40 %, residual contrast about 1."""
    exercise, ctx = prepared
    verdicts = {v.name: v.points for v in exercise.judge(_results(ctx, denoiser="mean"), ctx)}
    assert verdicts["predict_on_partially_coherent_patterns_and_error_exp"] == 0
    assert verdicts["predict_removes_speckle_contrast_and_contrasts_are_recomputed"] == 0
    assert verdicts["predict_is_on_the_scale_of_clean_and_beats_counts_and_filter"] == 0


def test_reported_contrasts_that_do_not_describe_predict_lose_their_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    # contrasts of all pixels (no MIN_PHOTONS cut): not the page's definition
    results["contrast_before"] = judge.speckle.speckle_contrast(
        ctx.sent["counts_split"], ctx.kept["clean_split"], speckle_size=3.0
    )
    assert exercise.points(results, ctx)["4"] == 1


def test_the_residual_bounds_are_the_ones_the_page_announces_and_asserts():
    """The judge applies the bounds of the page's task (4) text and of its visible check (fast mode)."""
    notebook = json.loads((ROOT / "solutions" / "17_1_speckle_autoencoder.ipynb").read_text())
    text = "".join("".join(cell["source"]) for cell in notebook["cells"])
    coherent, partial = judge.RESIDUAL_BOUNDS["coherent"], judge.RESIDUAL_BOUNDS["partially coherent"]
    assert f"below {coherent} on coherent" in text and f"below {partial} on partially coherent" in text
    assert f"contrast_after < {coherent} * contrast_before" in text
    assert f'residual["experimental"]["U-Net"] < {partial}' in text
