"""Trusted checks of Exercise 3.2 — wine quality by linear regression in closed form (10 points).

The judge loads its own copy of the wine split and recomputes the correlations, the standardisation and the
least-squares solution. The student's ``design_matrix`` is called on wines drawn and rescaled with the grader's seed;
the page accepts either standard deviation of the training wines (ddof=0 or ddof=1), and so does the judge. The
reported correlations and RMS errors count only where they agree with the judge's recomputation from the student's
predictions and its own labels.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import wine

exercise = Exercise(
    "03_2_wine_linear_regression",
    collect={
        "correlation": "correlation",
        "X": "X",
        "weights": "weights",
        "design_fresh": "design_matrix(inputs['x'])",
        "design_train": "design_matrix(inputs['x_train'])",
        "design_test": "design_matrix(inputs['x_test'])",
        "y_pred": "y_pred",
        "r_test": "r_test",
        "r_train": "r_train",
        "rms_test": "rms_test",
        "rms_train": "rms_train",
    },
)


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    data = wine.load(test_fraction=ctx.params["TEST_FRACTION"], seed=ctx.params["SEED"])
    everything = np.concatenate([data.x_train, data.x_test])
    n = int(rng.integers(50, 200))
    # Real wines, each measurement rescaled by up to ±20 %: inputs the notebook has never seen.
    x = everything[rng.choice(len(everything), size=n, replace=False)] * rng.uniform(0.8, 1.2, size=(n, 11))
    sent = {"x": x, "x_train": data.x_train, "x_test": data.x_test}
    return sent, {"data": data}


DDOFS = (0, 1)
"""The standard deviations the page accepts: NumPy's ``std`` (divide by N) and the sample one (divide by N − 1)."""


def _standardise(data, x, ddof=0):
    mean, std = data.x_train.mean(axis=0), data.x_train.std(axis=0, ddof=ddof)
    return np.column_stack([np.ones(len(x)), (x - mean) / std])


def _least_squares(data, ddof=0):
    return np.linalg.lstsq(_standardise(data, data.x_train, ddof), data.y_train, rcond=None)[0]


@exercise.check(task="1", points=2)
def correlation_is_pearson_r_of_each_feature(r, ctx):
    data = ctx.kept["data"]
    correlation = array(r["correlation"], (11,), "correlation")
    reference = np.array([np.corrcoef(column, data.y_train)[0, 1] for column in data.x_train.T])
    assert np.all(np.abs(correlation) <= 1 + 1e-9), "expected correlation coefficients between -1 and 1"
    assert np.allclose(correlation, reference, atol=1e-6), (
        "expected the Pearson correlation of each feature with the quality on the training wines, in the order of names"
    )
    largest = np.max(np.abs(correlation))
    assert 0.3 < largest < 0.6, f"expected the largest |r| between 0.3 and 0.6, got {largest:.3f}"


@exercise.check(task="2", points=2)
def design_matrix_standardises_with_the_training_wines(r, ctx):
    data, x = ctx.kept["data"], ctx.sent["x"]
    got = array(r["design_fresh"], (len(x), 12), "design_matrix(x) for x of shape (N, 11)")
    assert np.allclose(got[:, 0], 1.0), "expected design_matrix(x) to start with a column of ones"
    X = array(r["X"], (len(data.y_train), 12), "X")
    mean, std = X[:, 1:].mean(axis=0), X[:, 1:].std(axis=0)
    measured = (
        f"your X has means up to {np.max(np.abs(mean)):.2g} and standard deviations {std.min():.5f}–{std.max():.5f}"
    )
    assert np.allclose(mean, 0.0, atol=1e-8) and np.all(np.abs(std - 1.0) < 1e-3), (
        f"expected the training features in X standardised to mean 0 and standard deviation 1 (within 1e-3); {measured}"
    )
    assert any(np.allclose(got, _standardise(data, x, ddof), atol=1e-9) for ddof in DDOFS), (
        "expected design_matrix to standardise new wines with the mean and standard deviation of the training wines; "
        + measured
    )
    assert any(np.allclose(X, _standardise(data, data.x_train, ddof), atol=1e-9) for ddof in DDOFS), (
        f"expected X = design_matrix of the training wines (ones, then the standardised features); {measured}"
    )


@exercise.check(task="2", points=2)
def weights_are_the_least_squares_solution(r, ctx):
    data = ctx.kept["data"]
    weights = array(r["weights"], (12,), "weights")
    # The weights belong to one of the accepted standardisations: judge them against the one they fit best.
    normal = {}
    for ddof in DDOFS:
        A = _standardise(data, data.x_train, ddof)
        normal[ddof] = np.max(np.abs(A.T @ (data.y_train - A @ weights)))
    ddof = min(normal, key=normal.get)
    assert normal[ddof] < 1e-6, f"expected Xᵀ(y − X·weights) = 0 (normal equations), largest entry {normal[ddof]:.1e}"
    assert np.allclose(weights, _least_squares(data, ddof), atol=1e-6), (
        "expected weights = [b, w_1, …, w_11], the least-squares solution on the training wines"
    )


def _predictions(r, data):
    weights = array(r["weights"], (12,), "weights")
    test = array(r["design_test"], (len(data.y_test), 12), "design_matrix(x_test)") @ weights
    train = array(r["design_train"], (len(data.y_train), 12), "design_matrix(x_train)") @ weights
    return test, train


@exercise.check(task="3", points=2)
def y_pred_is_the_fit_on_the_test_wines(r, ctx):
    data = ctx.kept["data"]
    y_pred = array(r["y_pred"], (len(data.y_test),), "y_pred (one prediction per test wine)")
    test, train = _predictions(r, data)
    assert np.allclose(y_pred, test, atol=1e-9), (
        "expected y_pred = design_matrix(x_test) @ weights, the fitted model's predictions for the test wines"
    )
    r_test = np.corrcoef(y_pred, data.y_test)[0, 1]
    r_train = np.corrcoef(train, data.y_train)[0, 1]
    assert 0.4 < r_test < 0.65, f"expected 0.4 < r_test < 0.65 for the predictions y_pred, got {r_test:.3f}"
    assert abs(r_train - r_test) < 0.1, (
        f"expected r_train and r_test to agree within 0.1, got {r_train:.3f} and {r_test:.3f}"
    )
    rms_test = np.sqrt(np.mean((y_pred - data.y_test) ** 2))
    rms_train = np.sqrt(np.mean((train - data.y_train) ** 2))
    assert 0.5 < rms_test < 1.0 and abs(rms_test - rms_train) < 0.1, (
        f"expected RMS errors of 0.5–1 quality points, alike on both sets; got {rms_train:.3f} and {rms_test:.3f}"
    )


@exercise.check(task="3", points=2)
def reported_figures_match_the_predictions(r, ctx):
    data = ctx.kept["data"]
    test, train = _predictions(r, data)
    recomputed = {
        "r_test": np.corrcoef(test, data.y_test)[0, 1],
        "r_train": np.corrcoef(train, data.y_train)[0, 1],
        "rms_test": np.sqrt(np.mean((test - data.y_test) ** 2)),
        "rms_train": np.sqrt(np.mean((train - data.y_train) ** 2)),
    }
    for name, value in recomputed.items():
        got = number(r[name], name)
        assert np.isclose(got, value, rtol=1e-6), (
            f"expected {name} recomputed from the predictions and the data, got {got:.4f}"
        )
