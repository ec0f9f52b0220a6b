"""Trusted checks of Exercise 4.1 — a network by hand in NumPy (10 points).

The judge has its own forward pass and backpropagation (below) and evaluates the student's *trained parameters*
with them on its own copy of the wine data: a student's ``forward`` or a changed ``y_test`` cannot fake a result.
The student's ``forward`` and ``gradients`` are tested on random parameters and wines drawn with the grader's seed,
``gradients`` also at the student's trained parameters for a training wine the grader picks. The reported
``relative_errors`` earn no points of their own: the judge cannot recompute them (they were taken at the parameters
before training), so the points of task 3 come from the student's ``gradients`` on the grader's inputs.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import wine

exercise = Exercise(
    "04_1_network_by_hand",
    collect={
        "params": "params",
        "history": "history",
        "y_pred": "y_pred",
        "test_mse": "test_mse",
        "r_test": "r_test",
        "forward_batch": "forward(inputs['p'], inputs['x'])",
        "forward_one": "forward(inputs['p'], inputs['x'][0])",
        "gradients": "gradients(inputs['q'], inputs['x1'], float(inputs['t']))",
        "gradients_trained": "gradients(params, inputs['wine'], float(inputs['quality']))",
    },
)


def _forward(params, x):
    h = 1.0 / (1.0 + np.exp(-(x @ params["W"].T + params["b"])))
    return h @ np.reshape(params["W_out"], (-1,)) + np.reshape(params["b_out"], ()), h


def _gradients(params, x, t):
    y, h = _forward(params, x)
    delta = y - t
    delta_h = delta * np.reshape(params["W_out"], (-1,)) * h * (1 - h)
    return {"W": np.outer(delta_h, x), "b": delta_h, "W_out": delta * h[:, None], "b_out": np.array(delta)}


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    hidden = int(rng.integers(3, 7))
    p = {
        "W": rng.normal(size=(hidden, 11)),
        "b": rng.normal(size=hidden),
        "W_out": rng.normal(size=(hidden, 1)),
        "b_out": np.array(rng.normal()),
    }
    q = {
        "W": rng.normal(0, 0.3, size=(4, 11)),
        "b": rng.normal(size=4),
        "W_out": rng.normal(size=(4, 1)),
        "b_out": np.array(5.0 + rng.normal()),
    }
    data = wine.load(test_fraction=ctx.params["TEST_FRACTION"], seed=ctx.params["SEED"]).standardized()
    i = int(rng.integers(len(data.y_train)))
    sent = {
        "p": p,
        "x": rng.normal(size=(7, 11)),
        "q": q,
        "x1": rng.normal(size=11),
        "t": 6.0,
        "wine": data.x_train[i],
        "quality": float(data.y_train[i]),
    }
    kept = {"data": data}
    return sent, kept


def _trained(r, ctx):
    params = r["params"]
    hidden = ctx.params["N_HIDDEN"]
    assert isinstance(params, dict), "expected params to be a dict of arrays"
    return {
        "W": array(params.get("W"), (hidden, 11), "params['W']"),
        "b": array(params.get("b"), (hidden,), "params['b']"),
        "W_out": array(params.get("W_out"), (hidden, 1), "params['W_out']"),
        "b_out": number(params.get("b_out"), "params['b_out']"),
    }


@exercise.check(task="1", points=1)
def parameters_have_the_books_shapes(r, ctx):
    params = r["params"]
    assert isinstance(params, dict) and sorted(params) == ["W", "W_out", "b", "b_out"], (
        "expected params with the keys 'W', 'b', 'W_out', 'b_out'"
    )
    _trained(r, ctx)
    for key in params:
        assert np.asarray(params[key]).dtype == np.float64, f"expected params[{key!r}] as float64"


@exercise.check(task="2", points=2)
def forward_matches_the_network_on_fresh_parameters(r, ctx):
    p, x = ctx.sent["p"], ctx.sent["x"]
    y_ref, h_ref = _forward(p, x)
    batch = r["forward_batch"]
    assert isinstance(batch, list) and len(batch) == 2, "expected forward(params, x) to return the pair (y, h)"
    y, h = array(batch[0], (len(x),), "y for N wines"), array(batch[1], (len(x), len(p["b"])), "h for N wines")
    assert np.allclose(h, h_ref, rtol=1e-6, atol=1e-9), "expected h = σ(W x + b) with the sigmoid σ"
    assert np.allclose(y, y_ref, rtol=1e-6, atol=1e-9), "expected y = W'ᵀ h + b'"
    one = r["forward_one"]
    assert isinstance(one, list) and len(one) == 2, "expected forward(params, x) to return (y, h) for one wine too"
    assert np.allclose(number(one[0], "y for one wine"), y_ref[0]), "expected the same y for one wine alone"
    assert np.allclose(array(one[1], (len(p["b"]),), "h for one wine"), h_ref[0]), (
        "expected h = σ(W x + b) for one wine too"
    )


def _compare_gradients(grads, reference, where: str) -> None:
    assert isinstance(grads, dict) and sorted(grads) == sorted(reference), (
        f"expected gradients(params, x, t) {where} to return a dict with the keys of params"
    )
    for key, ref in reference.items():
        got = array(grads[key], name=f"the gradient of {key!r} {where}")
        assert got.size == ref.size, (
            f"expected the gradient of {key!r} with the shape of params[{key!r}], got {got.shape}"
        )
        # the tolerances of the page's check against central finite differences
        assert np.allclose(got.reshape(ref.shape), ref, rtol=1e-5, atol=1e-7), (
            f"expected the gradient of {key!r} {where} to agree with finite differences of ½(y − t)²"
        )


@exercise.check(task="3", points=2)
def gradients_match_backpropagation_on_fresh_parameters(r, ctx):
    q, x, t = ctx.sent["q"], ctx.sent["x1"], ctx.sent["t"]
    _compare_gradients(r["gradients"], _gradients(q, x, t), "at random parameters")


@exercise.check(task="3", points=1)
def gradients_match_backpropagation_at_the_trained_parameters(r, ctx):
    params = _trained(r, ctx)
    reference = _gradients(params, ctx.sent["wine"], ctx.sent["quality"])
    _compare_gradients(r["gradients_trained"], reference, "at the trained params for a training wine")


@exercise.check(task="4", points=2)
def training_lowers_the_error(r, ctx):
    data = ctx.kept["data"]
    params = _trained(r, ctx)
    history = r["history"]
    epochs = ctx.params["EPOCHS"]
    assert isinstance(history, dict) and {"train", "test"} <= set(history), "expected history with 'train' and 'test'"
    train, test = array(history["train"], name="history['train']"), array(history["test"], name="history['test']")
    assert train.shape == test.shape == (epochs + 1,), f"expected {epochs + 1} entries per list"
    mse_train = np.mean((_forward(params, data.x_train)[0] - data.y_train) ** 2)
    mse_test = np.mean((_forward(params, data.x_test)[0] - data.y_test) ** 2)
    assert np.isclose(train[-1], mse_train, rtol=1e-6), (
        f"expected history['train'][-1] = the training MSE of the trained params, got {train[-1]:.4f}"
    )
    assert np.isclose(test[-1], mse_test, rtol=1e-6), (
        f"expected history['test'][-1] = the test MSE of the trained params, got {test[-1]:.4f}"
    )
    baseline = np.mean((data.y_train - data.y_train.mean()) ** 2)
    assert train[0] > train[-1], (
        f"expected the training MSE to fall, got {train[0]:.3f} before and {train[-1]:.3f} after"
    )
    assert mse_train < 0.85 * baseline, (
        f"expected a training MSE below 0.85 × the constant-mean baseline, got {mse_train / baseline:.2f} × baseline"
    )


@exercise.check(task="5", points=2)
def test_error_beats_the_baseline(r, ctx):
    data = ctx.kept["data"]
    params = _trained(r, ctx)
    pred = _forward(params, data.x_test)[0]
    y_pred = array(r["y_pred"], (len(data.y_test),), "y_pred")
    assert np.allclose(y_pred, pred), "expected y_pred = the trained network's prediction for x_test"
    mse = np.mean((pred - data.y_test) ** 2)
    test_mse, r_test = number(r["test_mse"], "test_mse"), number(r["r_test"], "r_test")
    assert np.isclose(test_mse, mse), f"expected test_mse = the mean squared error of y_pred, got {test_mse:.4f}"
    assert np.isclose(r_test, np.corrcoef(pred, data.y_test)[0, 1]), (
        f"expected r_test = the Pearson correlation coefficient of y_pred and y_test, got {r_test:.4f}"
    )
    baseline = np.mean((data.y_test - data.y_train.mean()) ** 2)
    assert mse < 0.8 * baseline, f"expected test MSE < 0.8 × the baseline, got {mse / baseline:.2f} × baseline"
    r_test = np.corrcoef(pred, data.y_test)[0, 1]
    assert 0.45 < r_test < 0.8, f"expected 0.45 < r_test < 0.8, got {r_test:.3f}"
