"""The judge of 16.2 against classifiers whose quality is known: the exact likelihood ratio, and worse ones."""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex16_2 as judge
from dlphys.datasets import planing

PARAMS = {"N_TEST": 20_000, "SEED": 42}
PAIRS = [(0.8, 0.2), (0.7, 0.3), (0.6, 0.4), (0.55, 0.45)]


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("16_2_cwola_proportions")
    ctx = Context("16_2_cwola_proportions", 4, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def cwola_output(p, f1, f2):
    """The optimal CWoLa output h for events with exact P(signal | x) = p (half signal): h/(1−h) = L_M."""
    ratio = p / (1 - p)
    mixed = (f1 * ratio + 1 - f1) / (f2 * ratio + 1 - f2)
    return mixed / (1 + mixed)


def _results(ctx, degrade=0.0):
    """What a notebook whose networks are exact (plus Gaussian noise of size degrade on the logit) returns."""
    rng = np.random.default_rng(0)
    fresh_p = planing.signal_probability(ctx.sent["x"])
    test_p = ctx.kept["p_exact_test"]

    def noisy(p):
        logit = np.log(p / (1 - p)) + degrade * rng.standard_normal(len(p))
        return np.clip(1 / (1 + np.exp(-logit)), 1e-9, 1 - 1e-9)

    y_test = ctx.kept["y_test"]
    from sklearn.metrics import roc_auc_score

    cwola_test = {str(pair): cwola_output(noisy(test_p), *pair) for pair in PAIRS}
    p_cwola = judge.inversion(cwola_test["(0.8, 0.2)"], 0.8, 0.2)
    llp_test = noisy(test_p)
    return {
        "trained": noisy(fresh_p),
        "supervised_test": test_p,
        "auc_supervised": roc_auc_score(y_test, test_p),
        "cwola_fresh": {str(pair): cwola_output(noisy(fresh_p), *pair) for pair in PAIRS},
        "cwola_test": cwola_test,
        "auc_cwola": {k: roc_auc_score(y_test, v) for k, v in cwola_test.items()},
        "inverted": judge.inversion(ctx.sent["h"], ctx.sent["f1"], ctx.sent["f2"]),
        "p_cwola": p_cwola,
        "rms_inverted": float(np.sqrt(np.mean((p_cwola - test_p) ** 2))),
        "llp_fresh": noisy(fresh_p),
        "llp_test": llp_test,
        "auc_llp": roc_auc_score(y_test, llp_test),
        "auc_bump_correlated": ctx.kept["bump_optimum"] - 0.005,
        "auc_bump_independent": 0.501,
    }


def test_the_exact_likelihood_ratio_earns_every_point(prepared):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx), ctx) == {"1": 2, "2": 3, "3": 2, "4": 2, "5": 1}


def test_the_bump_optimum_is_what_a_network_reaches(prepared):
    _, ctx = prepared
    assert 0.80 < ctx.kept["bump_optimum"] < 0.85  # a trained network: 0.818 (fast mode)


def test_noisy_classifiers_lose_the_quality_points_but_keep_honest_bookkeeping(prepared):
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, degrade=8.0), ctx)
    assert per_task["1"] == 1 and per_task["2"] == 1 and per_task["3"] == 1 and per_task["4"] == 0


def test_made_up_numbers_and_a_wrong_inversion_lose_their_points(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["auc_cwola"] = {k: v + 0.01 for k, v in results["auc_cwola"].items()}
    results["inverted"] = ctx.sent["h"]  # no inversion at all
    results["auc_bump_correlated"], results["auc_bump_independent"] = 0.5, 0.5  # "no fake signal"
    per_task = exercise.points(results, ctx)
    assert per_task["2"] == 2 and per_task["3"] == 1 and per_task["5"] == 0
