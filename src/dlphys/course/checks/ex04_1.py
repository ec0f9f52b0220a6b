"""Trusted checks of Exercise 4.1 — a network by hand in NumPy (10 points).

The judge has its own forward pass and backpropagation (below) and evaluates the student's *trained parameters*
with them on its own copy of the wine data: a student's ``forward`` or a changed ``y_test`` cannot fake a result.

- ``forward`` and ``gradients`` are tested on random parameters and wines drawn with the grader's seed,
  ``gradients`` also at the student's trained parameters for a training wine the grader picks. Gradients must
  agree with the exact derivatives to 1e-12 of their largest entry (the page says so): backpropagation reaches
  round-off (~1e-16); central finite differences, at their best step, only ~1e-10 (measured: ε = 1e-5 gives
  1.4e-10 at t = 6, 6.6e-10 at t = 50), so a ``gradients`` that differentiates numerically fails.
- The untrained parameters are ``params_start``, the copy the given cell of (2) keeps. Task 1 is judged on them
  (b = 0, b' = the mean quality, W drawn from N(0, 1/11): a Kolmogorov–Smirnov test rejects a fixed pattern of
  ±0.3 at p ~ 1e-18; it cannot tell normal quantiles in a random order from a draw).
- ``history`` is judged against the judge's own replays of the stated descent (per-example updates, η, a new
  random order each epoch) from those untrained parameters: entry 0 exactly, every later entry within ±25 % of the
  replays' median (orders alone change it by ~6 %), and how far W, b and W' moved within a factor 1.5 of the
  replays (they agree to ~5 %). A made-up curve, or parameters fitted another way, fail.
- The reported ``relative_errors`` earn no points of their own: the judge cannot recompute them.
"""

import numpy as np
from scipy import stats

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
        "params_start": "params_start",
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
        "t": 50.0,
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


def _untrained(r, ctx):
    """The parameters before training: ``params_start``, the copy the given cell of (2) keeps."""
    start = r["params_start"]
    hidden = ctx.params["N_HIDDEN"]
    assert isinstance(start, dict) and sorted(start) == ["W", "W_out", "b", "b_out"], (
        "expected params_start (the given cell of (2)) with the keys 'W', 'b', 'W_out', 'b_out'"
    )
    return {
        "W": array(start.get("W"), (hidden, 11), "params_start['W']"),
        "b": array(start.get("b"), (hidden,), "params_start['b']"),
        "W_out": array(start.get("W_out"), (hidden, 1), "params_start['W_out']"),
        "b_out": np.array(number(start.get("b_out"), "params_start['b_out']")),
    }


@exercise.check(task="1", points=1)
def parameters_have_the_books_shapes_and_start_values(r, ctx):
    params = r["params"]
    assert isinstance(params, dict) and sorted(params) == ["W", "W_out", "b", "b_out"], (
        "expected params with the keys 'W', 'b', 'W_out', 'b_out'"
    )
    _trained(r, ctx)
    for key in params:
        assert np.asarray(params[key]).dtype == np.float64, f"expected params[{key!r}] as float64"
    start = _untrained(r, ctx)
    assert np.allclose(start["b"], 0, atol=1e-8), "expected b = 0 before training"
    assert np.isclose(start["b_out"], ctx.kept["data"].y_train.mean(), atol=1e-8), (
        "expected b' = the mean quality of the training wines before training"
    )
    p_value = stats.kstest(start["W"].ravel() * np.sqrt(11), "norm").pvalue
    assert p_value > 1e-6, (
        f"expected W drawn from a normal distribution with standard deviation 1/√11 (Kolmogorov–Smirnov p = "
        f"{p_value:.1e})"
    )


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
        error = np.max(np.abs(got.reshape(ref.shape) - ref)) / max(np.max(np.abs(ref)), 1e-300)
        assert np.isfinite(error) and error < 1e-12, (
            f"expected the gradient of {key!r} {where} to equal the exact derivative of ½(y − t)² to 1e-12 of its "
            f"largest entry (backpropagation reaches round-off), got {error:.1e}"
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


def _replay(start, data, epochs, rate, seed):
    """Per-example gradient descent as the page states it; the MSE history and the final parameters."""
    params = {key: np.array(value, dtype=float) for key, value in start.items()}
    rng = np.random.default_rng(seed)
    train = [np.mean((_forward(params, data.x_train)[0] - data.y_train) ** 2)]
    test = [np.mean((_forward(params, data.x_test)[0] - data.y_test) ** 2)]
    for _ in range(epochs):
        for i in rng.permutation(len(data.y_train)):
            grads = _gradients(params, data.x_train[i], data.y_train[i])
            for key in params:
                params[key] = params[key] - rate * np.reshape(grads[key], params[key].shape)
        train.append(np.mean((_forward(params, data.x_train)[0] - data.y_train) ** 2))
        test.append(np.mean((_forward(params, data.x_test)[0] - data.y_test) ** 2))
    return np.array(train), np.array(test), params


@exercise.check(task="4", points=2)
def history_is_the_descent_from_the_untrained_network(r, ctx):
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
    assert mse_train < 0.85 * baseline, (
        f"expected a training MSE below 0.85 × the constant-mean baseline, got {mse_train / baseline:.2f} × baseline"
    )
    start = _untrained(r, ctx)
    replays = [_replay(start, data, epochs, ctx.params["LEARNING_RATE"], ctx.seed + k) for k in range(4)]
    for name, got, column in (("train", train, 0), ("test", test, 1)):
        median = np.median([replay[column] for replay in replays], axis=0)
        assert np.isclose(got[0], median[0], rtol=1e-6), (
            f"expected history[{name!r}][0] = the MSE of the untrained network params_start, got {got[0]:.4f}"
        )
        ratio = got[1:] / median[1:]
        worst = int(np.argmax(np.abs(np.log(ratio))))
        assert np.all((ratio > 0.75) & (ratio < 1.25)), (
            f"expected every entry of history[{name!r}] within ±25 % of the grader's own runs of the stated descent "
            f"from params_start; entry {worst + 1} ({got[worst + 1]:.4f}) is not"
        )
    for key in ("W", "b", "W_out"):
        moved = np.linalg.norm(params[key] - start[key])
        typical = np.median([np.linalg.norm(replay[2][key] - start[key]) for replay in replays])
        assert typical / 1.5 < moved < typical * 1.5, (
            f"expected params[{key!r}] to move from params_start as far as in the grader's runs of the stated descent "
            f"(within a factor 1.5); yours moved by {moved:.3f} (Euclidean norm), which is not"
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
