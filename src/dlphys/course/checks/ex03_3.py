"""Trusted checks of Exercise 3.3 — checkerboard: the smallest network that fits (10 points).

The reported accuracies come from trainings the judge cannot repeat itself (it never runs TensorFlow). Instead the
sandbox retrains, with the notebook's own ``train``, every network of the tables ``accuracy``, ``depth_accuracy``
and ``feature_accuracy`` (the grading mode trains few of them) and returns their *weights*. The judge evaluates those
weights with its own forward pass (ReLU hidden layers, a sigmoid output, as the page's ``train`` builds them) on its
own copy of the test points and compares with every reported accuracy; the page's criteria are then judged on the
judge's accuracies. ``model_hidden`` and ``model_feature`` are judged on 2000 points simulated with the grader's seed.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import checkerboard

CANDIDATES = ["x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


def _features_fresh(r, ctx):
    """The saved model_feature's input: the fresh points with the student's best feature."""
    best = r["best_feature"]
    assert isinstance(best, str) and best in CANDIDATES, f"expected best_feature to be one of {CANDIDATES}"
    return checkerboard.features(ctx.sent["x"], ["x1", "x2", best])


exercise = Exercise(
    "03_3_checkerboard",
    # saved, and run by the judge in a clean sandbox
    models={"model_hidden": "model_hidden", "model_feature": "model_feature"},
    runs={
        "hidden_fresh": ("model_hidden", "x"),
        "feature_fresh": ("model_feature", _features_fresh),
    },
    collect={
        "accuracy": "accuracy",
        "depth_accuracy": "depth_accuracy",
        "feature_accuracy": "feature_accuracy",
        "smallest": "smallest",
        "best_feature": "best_feature",
        "width_networks": (
            "{w: [train(x_train, x_test, w, seed=SEED + r)[0].get_weights() for r in range(REPEATS)] for w in WIDTHS}"
        ),
        "depth_networks": (
            "{d: [train(x_train, x_test, DEPTH_WIDTH, seed=SEED + r, depth=d)[0].get_weights() for r in range(REPEATS)]"
            " for d in DEPTHS}"
        ),
        "feature_networks": (
            "{f: train(checkerboard.features(x_train, ['x1', 'x2', f]), checkerboard.features(x_test, ['x1', 'x2', f]),"
            " width=0, seed=SEED)[0].get_weights() for f in CANDIDATES}"
        ),
        "model_hidden": "model_hidden.get_weights()",
        "model_feature": "model_feature.get_weights()",
    },
)


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    x, y = checkerboard.simulate(2000, seed=ctx.seed)
    _, (x_test, y_test) = checkerboard.load(n=p["N_POINTS"], noise=0.0, seed=p["SEED"])
    return {"x": x}, {"y": y, "x_test": x_test, "y_test": y_test}


def _layers(weights, name: str, widths: list[int], inputs: int = 2):
    """The (W, b) pairs of a dense stack with hidden ``widths`` and one output, checked for their shapes."""
    assert isinstance(weights, list) and len(weights) == 2 * (len(widths) + 1), (
        f"expected {name} with {len(widths)} hidden layer(s) and one output (weights and biases of "
        f"{len(widths) + 1} Dense layers), got {len(weights) if isinstance(weights, list) else 'no list'}"
    )
    pairs, n_in = [], inputs
    for k, n_out in enumerate([*widths, 1]):
        W = array(weights[2 * k], (n_in, n_out), f"the kernel of layer {k + 1} of {name}")
        b = array(weights[2 * k + 1], (n_out,), f"the bias of layer {k + 1} of {name}")
        pairs.append((W, b))
        n_in = n_out
    return pairs


def _logit(pairs, x):
    h = np.asarray(x, dtype=float)
    for k, (W, b) in enumerate(pairs):
        h = h @ W + b
        if k < len(pairs) - 1:
            h = np.maximum(h, 0.0)
    return h[:, 0]


def _accuracy(pairs, x, y):
    return float(np.mean((_logit(pairs, x) > 0) == (y == 1)))


def _table(r, name: str, keys: list, repeats: int | None) -> dict:
    table = r[name]
    assert isinstance(table, dict) and sorted(table) == sorted(str(k) for k in keys), (
        f"expected {name} with the keys {list(keys)}, got {sorted(table) if isinstance(table, dict) else 'no dict'}"
    )
    out = {}
    for key in keys:
        if repeats is None:
            out[key] = number(table[str(key)], f"{name}[{key!r}]")
            values = np.array([out[key]])
        else:
            values = array(table[str(key)], (repeats,), f"{name}[{key}] (a list of {repeats} accuracies)")
            out[key] = values
        assert np.all((values >= 0) & (values <= 1)), f"expected the accuracies in {name} between 0 and 1"
    return out


def _retrained(r, ctx, name: str, reported: dict, network: str, inputs, hidden) -> dict:
    """The judge's test accuracies of the retrained networks ``r[network]``, each compared with ``reported``.

    ``inputs(key)`` gives the judge's test inputs of the network ``key``, ``hidden(key)`` its hidden widths.
    """
    kept, networks = ctx.kept, r[network]
    assert isinstance(networks, dict) and sorted(networks) == sorted(str(k) for k in reported), (
        f"expected train to retrain every network of {name}"
    )
    recomputed = {}
    for key, values in reported.items():
        repeats = networks[str(key)] if np.ndim(values) else [networks[str(key)]]
        assert isinstance(repeats, list) and len(repeats) == np.size(values), f"expected train to retrain {name}"
        got = [
            _accuracy(
                _layers(w, f"train(...) of {name}[{key!r}]", hidden(key), inputs(key).shape[1]),
                inputs(key),
                kept["y_test"],
            )
            for w in repeats
        ]
        for index, (value, mine) in enumerate(zip(np.atleast_1d(values), got, strict=True)):
            entry = f"{name}[{key!r}][{index}]" if np.ndim(values) else f"{name}[{key!r}]"
            assert abs(mine - value) < 0.01, (
                f"expected {entry} = the test accuracy of its network from train with the task's seed, got "
                f"{value:.3f}, which that network, retrained, misses by more than 0.01"
            )
        recomputed[key] = np.array(got) if np.ndim(values) else got[0]
    return recomputed


def _widths(r, ctx) -> dict:
    p = ctx.params
    accuracy = _table(r, "accuracy", p["WIDTHS"], p["REPEATS"])
    x_test = ctx.kept["x_test"]
    return _retrained(r, ctx, "accuracy", accuracy, "width_networks", lambda w: x_test, lambda w: [w])


def _depths(r, ctx) -> dict:
    p = ctx.params
    depth_accuracy = _table(r, "depth_accuracy", p["DEPTHS"], p["REPEATS"])
    x_test = ctx.kept["x_test"]
    return _retrained(
        r, ctx, "depth_accuracy", depth_accuracy, "depth_networks", lambda d: x_test, lambda d: [p["DEPTH_WIDTH"]] * d
    )


def _features(x, name):
    return checkerboard.features(x, ["x1", "x2", name])


def _feature_table(r, ctx) -> dict:
    feature_accuracy = _table(r, "feature_accuracy", CANDIDATES, None)
    x_test = ctx.kept["x_test"]
    return _retrained(
        r, ctx, "feature_accuracy", feature_accuracy, "feature_networks", lambda f: _features(x_test, f), lambda f: []
    )


@exercise.check(task="1", points=1)
def accuracy_table_matches_the_retrained_networks(r, ctx):
    _widths(r, ctx)


@exercise.check(task="1", points=2)
def widest_network_fits_and_narrowest_does_not(r, ctx):
    widths = ctx.params["WIDTHS"]
    accuracy = _widths(r, ctx)
    wide, narrow = max(widths), min(widths)
    best = float(np.max(accuracy[wide]))
    assert best > 0.95, f"expected the best {wide}-neuron network above 0.95, got {best:.3f}"
    mean_narrow = float(np.mean(accuracy[narrow]))
    assert mean_narrow < best - 0.05, (
        f"expected the {narrow}-neuron networks clearly worse, got a mean of {mean_narrow:.3f}"
    )


@exercise.check(task="2", points=1)
def depth_table_matches_the_retrained_networks(r, ctx):
    _depths(r, ctx)


@exercise.check(task="2", points=1)
def deep_networks_do_better_than_guessing(r, ctx):
    depth_accuracy = _depths(r, ctx)
    worst = min(float(np.min(a)) for a in depth_accuracy.values())
    assert worst > 0.45, f"expected every network better than guessing (above 0.45), got a run at {worst:.3f}"


@exercise.check(task="4", points=1)
def feature_table_matches_the_retrained_networks(r, ctx):
    _feature_table(r, ctx)


@exercise.check(task="4", points=1)
def best_feature_fits_without_hidden_layer(r, ctx):
    feature_accuracy = _feature_table(r, ctx)
    best = max(feature_accuracy, key=feature_accuracy.get)
    assert feature_accuracy[best] > 0.9, (
        f"expected the best feature above 0.9, got {best} at {feature_accuracy[best]:.3f}"
    )


@exercise.check(task="5", points=1)
def smallest_is_the_smallest_width_that_fits(r, ctx):
    widths = ctx.params["WIDTHS"]
    accuracy = _table(r, "accuracy", widths, ctx.params["REPEATS"])
    smallest = number(r["smallest"], "smallest")
    assert smallest in widths, f"expected smallest to be one of {widths}, got {smallest:g}"
    smallest = int(smallest)
    fits = [w for w in widths if np.max(accuracy[w]) > 0.95]
    assert smallest == (min(fits) if fits else max(widths)), (
        f"expected smallest = the smallest width whose best repeat in accuracy is above 0.95, got {smallest}"
    )


def _fresh_accuracy(pairs, predictions, x, y, name):
    p = array(predictions, (len(y), 1), f"{name}.predict for {len(y)} points")[:, 0]
    assert np.allclose(p, 1 / (1 + np.exp(-_logit(pairs, x))), atol=1e-4), (
        f"expected {name} to be Dense ReLU layers and a sigmoid output with the weights of {name}.get_weights()"
    )
    return float(np.mean((p > 0.5) == (y == 1)))


@exercise.check(task="5", points=1)
def model_hidden_is_the_fitting_repeat(r, ctx):
    kept = ctx.kept
    accuracy = _table(r, "accuracy", ctx.params["WIDTHS"], ctx.params["REPEATS"])
    smallest = int(number(r["smallest"], "smallest"))
    assert smallest in accuracy, f"expected smallest to be one of {ctx.params['WIDTHS']}, got {smallest}"
    pairs = _layers(r["model_hidden"], "model_hidden", [smallest])
    on_test = _accuracy(pairs, kept["x_test"], kept["y_test"])
    assert abs(on_test - np.max(accuracy[smallest])) < 0.01, (
        f"expected model_hidden to reproduce the best repeat of width {smallest}, got a test accuracy of {on_test:.3f}"
    )
    fresh = _fresh_accuracy(pairs, r["hidden_fresh"], ctx.sent["x"], kept["y"], "model_hidden")
    assert fresh > 0.9, f"expected model_hidden to classify fresh points with accuracy > 0.9, got {fresh:.3f}"


@exercise.check(task="5", points=1)
def model_feature_classifies_fresh_points(r, ctx):
    best = r["best_feature"]
    assert isinstance(best, str) and best in CANDIDATES, f"expected best_feature to be one of {CANDIDATES}"
    pairs = _layers(r["model_feature"], "model_feature", [], inputs=3)
    x = ctx.sent["x"]
    fresh = _fresh_accuracy(pairs, r["feature_fresh"], _features(x, best), ctx.kept["y"], "model_feature")
    assert fresh > 0.9, f"expected model_feature to classify fresh points with accuracy > 0.9, got {fresh:.3f}"
