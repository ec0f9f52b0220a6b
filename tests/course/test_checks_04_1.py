"""The judge of 4.1 against cheaper answers than the work: numerical gradients, a made-up history, a fixed W.

The results are built here as a student's notebook would leave them (the judge only ever sees values), from an
honest run of the stated method and from three shortcuts that pass the page's visible checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.checking import numerical_gradient
from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex04_1 as judge
from dlphys.datasets import wine

PARAMS = {"EPOCHS": 3, "N_HIDDEN": 16, "LEARNING_RATE": 0.01, "TEST_FRACTION": 0.2, "SEED": 42}


def _backprop(params, x, t):
    return judge._gradients({k: np.asarray(v, dtype=float) for k, v in params.items()}, x, t)


def _numeric(params, x, t):
    return numerical_gradient(lambda p: 0.5 * (judge._forward(p, x)[0] - t) ** 2, params, eps=1e-5)


def _student(ctx, start, gradients=_backprop, history=None, trained=None):
    data = wine.load(test_fraction=0.2, seed=42).standardized()
    train, test, params = judge._replay(start, data, PARAMS["EPOCHS"], PARAMS["LEARNING_RATE"], seed=2024)
    params = trained or params
    if history is None:
        history = {"train": list(train), "test": list(test)}
    sent = ctx.sent
    y_pred = judge._forward(params, data.x_test)[0]
    return {
        "params": params,
        "history": history,
        "y_pred": y_pred,
        "test_mse": float(np.mean((y_pred - data.y_test) ** 2)),
        "r_test": float(np.corrcoef(y_pred, data.y_test)[0, 1]),
        "forward_batch": list(judge._forward(sent["p"], sent["x"])),
        "forward_one": list(judge._forward(sent["p"], sent["x"][0])),
        "gradients": gradients(sent["q"], sent["x1"], float(sent["t"])),
        "gradients_trained": gradients(params, sent["wine"], float(sent["quality"])),
        "params_start": start,
    }


def _start(rng, W=None):
    return {
        "W": rng.normal(0, 1 / np.sqrt(11), size=(16, 11)) if W is None else W,
        "b": np.zeros(16),
        "W_out": rng.normal(0, 0.25, size=(16, 1)),
        "b_out": np.array(wine.load(test_fraction=0.2, seed=42).standardized().y_train.mean()),
    }


def _points(results, seed):
    exercise = checks.load("04_1_network_by_hand")
    ctx = Context("04_1_network_by_hand", seed, PARAMS, True)
    exercise.prepare(ctx)
    verdicts = exercise.judge(results(ctx), ctx)
    per_task: dict[str, float] = {}
    for verdict in verdicts:
        per_task[verdict.task] = per_task.get(verdict.task, 0.0) + verdict.points
    return per_task, verdicts


@pytest.mark.parametrize("seed", [1, 2])
def test_the_stated_method_earns_every_point(seed):
    per_task, verdicts = _points(lambda ctx: _student(ctx, _start(np.random.default_rng(seed))), seed)
    assert sum(per_task.values()) == 10, [v for v in verdicts if not v.passed]


def test_numerical_gradients_do_not_pass_as_backpropagation():
    per_task, _ = _points(lambda ctx: _student(ctx, _start(np.random.default_rng(3)), gradients=_numeric), 3)
    assert per_task["3"] == 0 and per_task["4"] == 2


def test_a_made_up_history_fails_and_so_does_a_fit_of_the_output_layer_alone():
    def straight_line(ctx):
        honest = _student(ctx, _start(np.random.default_rng(4)))
        train, test = honest["history"]["train"], honest["history"]["test"]
        return {
            **honest,
            "history": {k: list(np.linspace(v[0], v[-1], len(v))) for k, v in (("train", train), ("test", test))},
        }

    def output_layer_only(ctx):
        start = _start(np.random.default_rng(4))
        data = wine.load(test_fraction=0.2, seed=42).standardized()
        h = judge._forward(start, data.x_train)[1]
        coef = np.linalg.lstsq(np.hstack([h, np.ones((len(h), 1))]), data.y_train, rcond=None)[0]
        fitted = {**start, "W_out": coef[:-1, None], "b_out": np.array(coef[-1])}
        honest = _student(ctx, start, trained=fitted)
        train = [float(np.mean((judge._forward(p, data.x_train)[0] - data.y_train) ** 2)) for p in (start, fitted)]
        test = [float(np.mean((judge._forward(p, data.x_test)[0] - data.y_test) ** 2)) for p in (start, fitted)]
        # a curve of the usual shape: most of the fall in the first epoch
        shape = np.array([0.0, 0.9, 0.97, 1.0])
        return {
            **honest,
            "history": {
                "train": list(train[0] + shape * (train[1] - train[0])),
                "test": list(test[0] + shape * (test[1] - test[0])),
            },
        }

    for cheat in (straight_line, output_layer_only):
        per_task, verdicts = _points(cheat, 4)
        assert per_task["4"] == 0, (cheat.__name__, verdicts)


def test_a_fixed_pattern_of_weights_is_not_a_draw():
    W = 0.3 * np.where(np.random.default_rng(5).random((16, 11)) < 0.5, -1.0, 1.0)
    per_task, _ = _points(lambda ctx: _student(ctx, _start(np.random.default_rng(5), W=W)), 5)
    assert per_task["1"] == 0
