"""The judge of 16.2 against classifiers whose quality is known: the exact likelihood ratio, and worse ones.

No network is trained: the saved models' outputs (what the clean sandbox returns, (n, 1)) are made from the exact
probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

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


class _Results(dict):
    """What the grader hands a check: collected values, and the layers of each saved model as the clean sandbox
    loaded it (the page's classifier unless ``layers`` says otherwise)."""

    def __init__(self, values, layers=None):
        super().__init__(values)
        self.layers = dict(layers or {})

    def model(self, name):
        default = [("input", "InputLayer"), ("norm", "Normalization"), ("h1", "Dense"), ("h2", "Dense"), ("p", "Dense")]
        return {"layers": self.layers.get(name, default), "outputs": {}}


def cwola_output(p, f1, f2):
    """The optimal CWoLa output h for events with exact P(signal | x) = p (half signal): h/(1−h) = L_M."""
    ratio = p / (1 - p)
    mixed = (f1 * ratio + 1 - f1) / (f2 * ratio + 1 - f2)
    return mixed / (1 + mixed)


def _results(ctx, degrade=0.0):
    """What a notebook whose networks are exact (plus Gaussian noise of size degrade on the logit) returns."""
    rng = np.random.default_rng(0)
    fresh_p = planing.signal_probability(ctx.kept["x"])
    test_p = ctx.kept["p_exact_test"]

    def noisy(p):
        logit = np.log(p / (1 - p)) + degrade * rng.standard_normal(len(p))
        return np.clip(1 / (1 + np.exp(-logit)), 1e-9, 1 - 1e-9)

    y_test = ctx.kept["y_test"]
    cwola_test = [cwola_output(noisy(test_p), *pair) for pair in PAIRS]
    p_cwola = judge.inversion(cwola_test[0], 0.8, 0.2)
    llp_test = noisy(test_p)
    return _Results(
        {
            "trained_fresh": (1 - noisy(fresh_p))[:, None],  # trained on the grader's swapped labels
            "supervised_test": test_p[:, None],
            "auc_supervised": roc_auc_score(y_test, test_p),
            "cwola_pairs": sorted(str(pair) for pair in PAIRS),
            **{f"cwola_fresh_{k}": cwola_output(noisy(fresh_p), *pair)[:, None] for k, pair in enumerate(PAIRS)},
            **{f"cwola_test_{k}": v[:, None] for k, v in enumerate(cwola_test)},
            "auc_cwola": {str(pair): roc_auc_score(y_test, v) for pair, v in zip(PAIRS, cwola_test, strict=True)},
            "inverted": judge.inversion(ctx.sent["h"], ctx.sent["f1"], ctx.sent["f2"]),
            "p_cwola": p_cwola,
            "rms_inverted": float(np.sqrt(np.mean((p_cwola - test_p) ** 2))),
            "llp_fresh": noisy(fresh_p)[:, None],
            "llp_test": llp_test[:, None],
            "auc_llp": roc_auc_score(y_test, llp_test),
            "bump_correlated_fresh": judge.bump_log_ratio(ctx.kept["bump_x"])[:, None],
            "bump_independent_fresh": rng.random((len(ctx.kept["bump_region"]), 1)),
            "auc_bump_correlated": ctx.kept["bump_optimum"] - 0.005,
            "auc_bump_independent": 0.501,
        }
    )


def test_the_exact_likelihood_ratio_earns_every_point(prepared):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx), ctx) == {"1": 2, "2": 3, "3": 2, "4": 2, "5": 1}


def test_train_classifier_gets_swapped_labels_and_shuffled_columns(prepared):
    """The grader's training sample: labels 1 for background, the five columns in the order ``columns``."""
    exercise, ctx = prepared
    columns = ctx.kept["columns"]
    assert sorted(columns) == list(range(5)) and list(columns) != list(range(5))
    x = ctx.sent["x_train"][:, np.argsort(columns)]  # back in the page's order
    assert roc_auc_score(ctx.sent["y_train"], planing.signal_probability(x)) < 0.1
    assert np.array_equal(ctx.kept["x_columns"], ctx.kept["x"][:, columns])
    assert exercise.runs["trained_fresh"][1](None, ctx) is ctx.kept["x_columns"]  # run on the columns it learnt
    assert exercise.models["trained"] == "train_classifier(inputs['x_train'], inputs['y_train'], 3)"


def test_a_train_classifier_that_ignores_the_data_it_is_given_loses_its_point(prepared):
    """A fixed network, even the exact P(signal | x) (on the columns in the page's order, its best case), ranks the
    fresh events the wrong way round for the labels the grader trained with."""
    exercise, ctx = prepared
    results = _results(ctx)
    results["trained_fresh"] = planing.signal_probability(ctx.kept["x"])[:, None]
    verdicts = {v.name: v for v in exercise.judge(results, ctx)}
    assert verdicts["train_classifier_reaches_the_optimum"].points == 0
    assert "does it learn from the x and y it is given?" in verdicts["train_classifier_reaches_the_optimum"].message
    assert exercise.points(results, ctx)["1"] == 1  # auc_supervised still counts


def test_the_supervised_network_in_place_of_cwola_models_loses_their_points(prepared):
    """Pairs 1–3 answered by the supervised network (the exact P(signal | x), its best case): the same AUC, but an
    output far from h/(1 − h) = L_M of their fractions; the numbers reported from it still count."""
    exercise, ctx = prepared
    results = _results(ctx)
    test_p = ctx.kept["p_exact_test"]
    for k, pair in enumerate(PAIRS[1:], start=1):
        results[f"cwola_fresh_{k}"] = planing.signal_probability(ctx.kept["x"])[:, None]
        results[f"cwola_test_{k}"] = test_p[:, None]
        results["auc_cwola"][str(pair)] = roc_auc_score(ctx.kept["y_test"], test_p)
    verdicts = {v.name: v for v in exercise.judge(results, ctx)}
    assert verdicts["cwola_models_reach_the_criteria_on_fresh_events"].points == 0
    assert "(0.7, 0.3)" in verdicts["cwola_models_reach_the_criteria_on_fresh_events"].message
    assert exercise.points(results, ctx) == {"1": 2, "2": 1, "3": 2, "4": 2, "5": 1}


def test_the_bump_optimum_is_what_a_network_reaches(prepared):
    _, ctx = prepared
    assert 0.80 < ctx.kept["bump_optimum"] < 0.85  # a trained network: 0.818 (fast mode)


def test_reported_bump_aucs_without_the_networks_earn_nothing(prepared):
    """One line, the AUCs typed in near the optimum, with networks that found nothing (or are not there): task 5's
    point comes from the saved bump networks on the grader's background events."""
    exercise, ctx = prepared
    results = _results(ctx)
    n = len(ctx.kept["bump_region"])
    results["bump_correlated_fresh"] = np.random.default_rng(1).random((n, 1))
    verdicts = {v.name: v for v in exercise.judge(results, ctx)}
    assert verdicts["bump_hunt_finds_the_fake_signal_and_only_it"].points == 0
    assert "bump_models['correlated']" in verdicts["bump_hunt_finds_the_fake_signal_and_only_it"].message
    del results["bump_correlated_fresh"], results["bump_independent_fresh"]
    assert exercise.points(results, ctx)["5"] == 0
    results = _results(ctx)
    results["auc_bump_correlated"] = 0.7  # not the AUC of its network
    assert exercise.points(results, ctx)["5"] == 0


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


def test_the_judges_events_stay_with_the_judge_and_every_network_is_a_saved_model(prepared):
    """The fresh and test events go only to the saved models; the student's sandbox gets training data alone."""
    exercise, ctx = prepared
    assert set(ctx.sent) == {"x_train", "y_train", "h", "f1", "f2"}
    assert set(exercise.models) == {
        "trained",
        "supervised",
        *(f"cwola_{k}" for k in range(4)),
        "llp_event",
        "bump_correlated",
        "bump_independent",
    }
    assert exercise.models["cwola_3"] == "cwola_models[(0.55, 0.45)]"
    assert exercise.runs["llp_fresh"][1](None, ctx) is ctx.kept["x"]
    assert not any("score(" in expression for expression in exercise.collect.values())


def test_networks_that_could_not_be_run_earn_nothing_of_their_own(prepared):
    """A "model" that is not a saved Keras network (a function returning the exact probability) is not run at all;
    only the reported numbers it cannot back and the work that needs no network are judged."""
    exercise, ctx = prepared
    results = _results(ctx)
    for key in [k for k in results if k.endswith(("_fresh", "_test")) or k.startswith(("cwola_fresh", "cwola_test"))]:
        del results[key]
    per_task = exercise.points(results, ctx)
    assert per_task == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}  # cwola_probability alone needs no network


def test_a_fixed_head_on_the_supervised_network_is_not_a_cwola_network(prepared):
    """A red team's cheat: one supervised network, and for each pair a fixed two-unit head (softplus, sigmoid) that
    maps its logit exactly onto h/(1 − h) = L_M of that pair; outputs perfect, layers not the page's network."""
    exercise, ctx = prepared
    results = _results(ctx)
    head = [("input", "InputLayer"), ("norm", "Normalization"), ("h1", "Dense"), ("h2", "Dense"), ("logit", "Dense")]
    head += [("softplus", "Dense"), ("h", "Dense")]
    results.layers.update({f"cwola_{k}": head for k in range(len(PAIRS))})
    verdicts = {v.name: v for v in exercise.judge(results, ctx)}
    verdict = verdicts["cwola_models_reach_the_criteria_on_fresh_events"]
    assert verdict.points == 0 and "built as the page's classifier" in verdict.message
    assert exercise.points(results, ctx)["2"] == 1  # auc_cwola still describes the networks
    functional = [("x", "InputLayer"), ("m", "Dense"), ("g", "Dense"), ("m2", "Multiply"), ("f", "Concatenate")]
    results.layers.update({"trained": functional, "llp_event": functional, "bump_correlated": functional})
    per_task = exercise.points(results, ctx)
    assert per_task["1"] == 1 and per_task["4"] == 0 and per_task["5"] == 0
