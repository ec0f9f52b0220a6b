"""Trusted checks of Exercise 3.3 — checkerboard: the smallest network that fits (10 points).

The reported accuracies come from trainings the judge cannot repeat itself (it never runs TensorFlow). Instead the
sandbox retrains, with the notebook's own ``train``, the networks the page's visible checks retrain (the best repeat
of the widest network, the best feature) and one more entry of each table chosen with the grader's secret seed,
and returns their *weights*. The judge evaluates those weights with its own forward pass (ReLU hidden layers, a
sigmoid output, as the page's ``train`` builds them) on its own copy of the test points, and compares with the
reported accuracy. ``model_hidden`` and ``model_feature`` are judged on 2000 points simulated with the grader's seed.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import checkerboard

CANDIDATES = ["x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
_BEST_FEATURE = "['x1', 'x2', max(feature_accuracy, key=feature_accuracy.get)]"
_SPOT_FEATURE = "['x1', 'x2', str(inputs['feature'])]"

exercise = Exercise(
    "03_3_checkerboard",
    collect={
        "accuracy": "accuracy",
        "depth_accuracy": "depth_accuracy",
        "feature_accuracy": "feature_accuracy",
        "smallest": "smallest",
        "best_feature": "best_feature",
        "widest_best": (
            "train(x_train, x_test, max(WIDTHS), seed=SEED + int(np.argmax(accuracy[max(WIDTHS)])))[0].get_weights()"
        ),
        "width_spot": (
            "train(x_train, x_test, int(inputs['width']), seed=SEED + int(inputs['repeat']))[0].get_weights()"
        ),
        "depth_spot": (
            "train(x_train, x_test, DEPTH_WIDTH, seed=SEED + int(inputs['depth_repeat']), "
            "depth=int(inputs['depth']))[0].get_weights()"
        ),
        "feature_best": (
            f"train(checkerboard.features(x_train, {_BEST_FEATURE}), checkerboard.features(x_test, {_BEST_FEATURE}), "
            "width=0, seed=SEED)[0].get_weights()"
        ),
        "feature_spot": (
            f"train(checkerboard.features(x_train, {_SPOT_FEATURE}), checkerboard.features(x_test, {_SPOT_FEATURE}), "
            "width=0, seed=SEED)[0].get_weights()"
        ),
        "model_hidden": "model_hidden.get_weights()",
        "hidden_fresh": "model_hidden.predict(inputs['x'], verbose=0)",
        "model_feature": "model_feature.get_weights()",
        "feature_fresh": (
            "model_feature.predict(checkerboard.features(inputs['x'], ['x1', 'x2', best_feature]), verbose=0)"
        ),
    },
)


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    p = ctx.params
    x, y = checkerboard.simulate(2000, seed=ctx.seed)
    _, (x_test, y_test) = checkerboard.load(n=p["N_POINTS"], noise=0.0, seed=p["SEED"])
    sent = {
        "x": x,
        "width": int(rng.choice(p["WIDTHS"])),
        "repeat": int(rng.integers(p["REPEATS"])),
        "depth": int(rng.choice(p["DEPTHS"])),
        "depth_repeat": int(rng.integers(p["REPEATS"])),
        "feature": str(rng.choice([c for c in CANDIDATES if c != "x1*x2"])),
    }
    kept = {"y": y, "x_test": x_test, "y_test": y_test}
    return sent, kept


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


@exercise.check(task="1", points=1)
def accuracy_table_matches_a_retrained_network(r, ctx):
    p, kept = ctx.params, ctx.kept
    accuracy = _table(r, "accuracy", p["WIDTHS"], p["REPEATS"])
    width, repeat = ctx.sent["width"], ctx.sent["repeat"]
    pairs = _layers(r["width_spot"], f"train(..., width={width})", [width])
    recomputed = _accuracy(pairs, kept["x_test"], kept["y_test"])
    reported = accuracy[width][repeat]
    assert abs(recomputed - reported) < 0.01, (
        f"expected accuracy[{width}][{repeat}] = test accuracy of train(x_train, x_test, {width}, "
        f"seed=SEED + {repeat}); got {reported:.3f}, its retrained network differs by more than 0.01"
    )


@exercise.check(task="1", points=2)
def widest_network_fits_and_narrowest_does_not(r, ctx):
    p, kept = ctx.params, ctx.kept
    accuracy = _table(r, "accuracy", p["WIDTHS"], p["REPEATS"])
    wide, narrow = max(p["WIDTHS"]), min(p["WIDTHS"])
    best = int(np.argmax(accuracy[wide]))
    pairs = _layers(r["widest_best"], f"train(..., width={wide})", [wide])
    recomputed = _accuracy(pairs, kept["x_test"], kept["y_test"])
    assert abs(recomputed - accuracy[wide][best]) < 0.01, (
        f"expected accuracy[{wide}][{best}] = test accuracy of train(x_train, x_test, {wide}, seed=SEED + {best}), "
        f"got {accuracy[wide][best]:.3f}, its retrained network differs by more than 0.01"
    )
    assert recomputed > 0.95, f"expected the best {wide}-neuron network above 0.95, got {recomputed:.3f}"
    mean_narrow = float(np.mean(accuracy[narrow]))
    assert mean_narrow < recomputed - 0.05, (
        f"expected the {narrow}-neuron networks clearly worse, got a mean of {mean_narrow:.3f}"
    )


@exercise.check(task="2", points=2)
def narrow_deep_networks_fit_unreliably(r, ctx):
    p, kept = ctx.params, ctx.kept
    depth_accuracy = _table(r, "depth_accuracy", p["DEPTHS"], p["REPEATS"])
    depth, repeat = ctx.sent["depth"], ctx.sent["depth_repeat"]
    pairs = _layers(r["depth_spot"], f"train(..., depth={depth})", [p["DEPTH_WIDTH"]] * depth)
    recomputed = _accuracy(pairs, kept["x_test"], kept["y_test"])
    reported = depth_accuracy[depth][repeat]
    assert abs(recomputed - reported) < 0.01, (
        f"expected depth_accuracy[{depth}][{repeat}] = test accuracy of train(x_train, x_test, DEPTH_WIDTH, "
        f"seed=SEED + {repeat}, depth={depth}); got {reported:.3f}, its retrained network differs by more than 0.01"
    )
    means = {d: float(np.mean(a)) for d, a in depth_accuracy.items()}
    assert all(m < 0.9 for m in means.values()), (
        f"expected the narrow deep networks to fit unreliably (mean < 0.9), got {means}"
    )
    worst = min(float(np.min(a)) for a in depth_accuracy.values())
    assert worst > 0.45, f"expected every network at least as good as guessing, got a run at {worst:.3f}"


def _features(x, name):
    return checkerboard.features(x, ["x1", "x2", name])


@exercise.check(task="4", points=1)
def best_feature_fits_without_hidden_layer(r, ctx):
    kept = ctx.kept
    feature_accuracy = _table(r, "feature_accuracy", CANDIDATES, None)
    best = max(feature_accuracy, key=feature_accuracy.get)
    pairs = _layers(r["feature_best"], f"the network without hidden layer on (x1, x2, {best})", [], inputs=3)
    recomputed = _accuracy(pairs, _features(kept["x_test"], best), kept["y_test"])
    assert abs(recomputed - feature_accuracy[best]) < 0.01, (
        f"expected feature_accuracy[{best!r}] = accuracy of width=0 on (x1, x2, {best}) with seed=SEED, got "
        f"{feature_accuracy[best]:.3f}, its retrained network differs by more than 0.01"
    )
    assert recomputed > 0.9, f"expected the best feature above 0.9, got {best} at {recomputed:.3f}"
    assert best == "x1*x2", f"expected the feature that helps most to decide the class by a plane, got {best}"


@exercise.check(task="4", points=1)
def feature_accuracy_matches_a_retrained_network(r, ctx):
    kept = ctx.kept
    feature_accuracy = _table(r, "feature_accuracy", CANDIDATES, None)
    name = ctx.sent["feature"]
    pairs = _layers(r["feature_spot"], f"the network without hidden layer on (x1, x2, {name})", [], inputs=3)
    recomputed = _accuracy(pairs, _features(kept["x_test"], name), kept["y_test"])
    assert abs(recomputed - feature_accuracy[name]) < 0.01, (
        f"expected feature_accuracy[{name!r}] = accuracy of width=0 on (x1, x2, {name}) with seed=SEED, got "
        f"{feature_accuracy[name]:.3f}, its retrained network differs by more than 0.01"
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
