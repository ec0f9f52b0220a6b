"""Trusted checks of Exercise 5.1 — regularisation on the noisy checkerboard (10 points).

For every variant the sandbox returns the trained network's weights, its layers (with their regularisers), its
History and its outputs on points the judge chose: 2000 fresh noisy checkerboard points drawn with the grader's
seed, and the judge's own copy of the training and validation points. The judge runs the network of the given
``build_model`` itself on the returned weights (NumPy), so the weights it counts for the sparsity of (3) are those
of the network whose accuracy it measures; accuracies, cross-entropies and fractions of small weights are all
recomputed here.
"""

import itertools

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import checkerboard

VARIANTS = {"none": "none", "l2_low": "L2 low", "l2_high": "L2 high", "l2_too_high": "L2 too high", "l1": "L1"}
_LAYERS = (
    "[{{'class': type(layer).__name__, "
    "'regularizer': layer.get_config().get('kernel_regularizer')}} for layer in models[{name!r}].layers]"
)

collect = {"weights": "weights", "small": "small"}
for _key, _name in VARIANTS.items():
    collect[f"{_key}_outputs"] = f"keras.ops.convert_to_numpy(models[{_name!r}](inputs['x']))"
    collect[f"{_key}_weights"] = f"models[{_name!r}].get_weights()"
    collect[f"{_key}_layers"] = _LAYERS.format(name=_name)
    collect[f"{_key}_history"] = f"histories[{_name!r}]"
    collect[f"{_key}_results"] = f"results[{_name!r}]"

exercise = Exercise("05_1_regularization", collect=collect)


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    x_fresh, y_fresh = checkerboard.simulate(2000, noise=p["NOISE"], seed=ctx.seed)
    x, y = checkerboard.simulate(p["N_TRAIN"] + p["N_VAL"], noise=p["NOISE"], seed=p["SEED"])  # the notebook's
    n_fresh, n_train = len(y_fresh), p["N_TRAIN"]
    sent = {"x": np.concatenate([x_fresh, x]).astype("float32")}
    kept = {
        "parts": {
            "fresh": slice(0, n_fresh),
            "train": slice(n_fresh, n_fresh + n_train),
            "val": slice(n_fresh + n_train, None),
        },
        "y": {"fresh": y_fresh, "train": y[:n_train], "val": y[n_train:]},
    }
    return sent, kept


def _forward(weights, x):
    """The network of the given ``build_model`` on the returned weights: Rescaling, ReLU layers, sigmoid output."""
    h = np.asarray(x, dtype=float) / checkerboard.EXTENT
    for i in range(0, len(weights) - 2, 2):
        h = np.maximum(h @ weights[i] + weights[i + 1], 0.0)
    return 1.0 / (1.0 + np.exp(-(h @ weights[-2] + weights[-1])))[:, 0]


def _network(r, ctx, key):
    """P(label 1) of variant ``key`` on the judge's points, checked to be the output of build_model's network."""
    name, p = VARIANTS[key], ctx.params
    widths = [2] + [p["WIDTH"]] * p["DEPTH"] + [1]
    raw = r[f"{key}_weights"]
    assert isinstance(raw, list) and len(raw) == 2 * (len(widths) - 1), (
        f"expected models[{name!r}] = build_model(...): {p['DEPTH']} hidden Dense layers and one output layer"
    )
    weights = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        weights.append(array(raw[2 * i], (n_in, n_out), f"the kernel of Dense layer {i + 1} of models[{name!r}]"))
        weights.append(array(raw[2 * i + 1], (n_out,), f"the bias of Dense layer {i + 1} of models[{name!r}]"))
    outputs = array(r[f"{key}_outputs"], (len(ctx.sent["x"]), 1), f"the output of models[{name!r}]")[:, 0]
    assert np.allclose(outputs, _forward(weights, ctx.sent["x"]), atol=1e-4), (
        f"expected models[{name!r}] to be the network of the given build_model (its outputs do not follow from its "
        "weights through Rescaling, ReLU layers and a sigmoid output)"
    )
    return outputs, weights


def _history(r, ctx, key):
    history, name = r[f"{key}_history"], VARIANTS[key]
    n = ctx.params["EPOCHS"] // ctx.params["RECORD_EVERY"]
    assert isinstance(history, dict) and {"loss", "bce", "val_bce"} <= set(history), (
        f"expected histories[{name!r}] = the History returned by the given train()"
    )
    got = len(array(history["loss"], name=f"histories[{name!r}]['loss']"))
    assert got == n, f"expected histories[{name!r}] of the given train(): {n} recorded points, got {got}"


def _regularizers(r, key):
    """(class name or None, rate) of the kernel regulariser of every Dense layer of variant ``key``."""
    layers = r[f"{key}_layers"]
    assert isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers), "expected a list of layers"
    out = []
    for layer in layers:
        if layer.get("class") != "Dense":
            continue
        reg = layer.get("regularizer")
        if reg is None:
            out.append((None, 0.0))
        else:
            assert isinstance(reg, dict) and isinstance(reg.get("config"), dict), "expected a Keras regulariser"
            config = reg["config"]
            rate = sum(number(v) for k, v in config.items() if k in ("l1", "l2"))
            out.append((reg.get("class_name"), rate))
    return out


def _scores(outputs, ctx):
    """Accuracy and cross-entropy (clipped as Keras does) on the fresh, training and validation points."""
    out = {}
    for part, where in ctx.kept["parts"].items():
        y = ctx.kept["y"][part]
        p = np.clip(outputs[where], 1e-7, 1 - 1e-7)
        out[f"{part} acc"] = float(np.mean((p > 0.5) == y))
        out[f"{part} bce"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return out


# ---------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def unregularised_variant_is_build_model(r, ctx):
    _history(r, ctx, "none")
    _network(r, ctx, "none")
    regs = _regularizers(r, "none")
    assert all(cls is None for cls, _ in regs), (
        f"expected models['none'] = build_model() without regulariser, got {regs}"
    )


@exercise.check(task="1", points=2)
def unregularised_network_overfits(r, ctx):
    s = _scores(_network(r, ctx, "none")[0], ctx)
    assert s["fresh acc"] > 0.6, (
        f"expected models['none'] to classify 2000 fresh points better than guessing (> 0.6), got {s['fresh acc']:.3f}"
    )
    assert s["train acc"] > s["fresh acc"], (
        f"expected the unregularised network to overfit: accuracy {s['train acc']:.3f} on its training points, "
        f"not above {s['fresh acc']:.3f} on fresh points"
    )


# ---------------------------------------------------------------------------------------------------- task 2
L2_VARIANTS = {"l2_low": "L2_LOW", "l2_high": "L2_HIGH", "l2_too_high": "L2_TOO_HIGH"}


@exercise.check(task="2", points=1)
def l2_variants_have_their_rates(r, ctx):
    for key, param in L2_VARIANTS.items():
        name, rate = VARIANTS[key], ctx.params[param]
        _history(r, ctx, key)
        _network(r, ctx, key)
        regs = _regularizers(r, key)
        assert all(cls == "L2" and np.isclose(got, rate) for cls, got in regs), (
            f"expected models[{name!r}] built with keras.regularizers.L2({rate:g}) on every Dense layer, got {regs}"
        )


@exercise.check(task="2", points=1)
def l2_results_are_their_scores(r, ctx):
    for key in L2_VARIANTS:
        name = VARIANTS[key]
        s = _scores(_network(r, ctx, key)[0], ctx)
        got = r[f"{key}_results"]
        assert isinstance(got, dict) and {"train acc", "val acc", "train bce", "val bce"} <= set(got), (
            f"expected results[{name!r}] = scores(models[{name!r}])"
        )
        for field in ("train acc", "val acc"):
            value = number(got[field], f"results[{name!r}][{field!r}]")
            assert abs(value - s[field]) < 0.002, (
                f"expected results[{name!r}][{field!r}] = scores(models[{name!r}]), got {value:.3f}, which is not the "
                "accuracy of that model"
            )
        for field in ("train bce", "val bce"):
            value = number(got[field], f"results[{name!r}][{field!r}]")
            assert np.isclose(value, s[field], rtol=1e-3, atol=1e-3), (
                f"expected results[{name!r}][{field!r}] = scores(models[{name!r}]), got {value:.4f}, which is not the "
                "cross-entropy of that model"
            )


@exercise.check(task="2", points=1)
def l2_high_classifies_fresh_points(r, ctx):
    acc = _scores(_network(r, ctx, "l2_high")[0], ctx)["fresh acc"]
    assert acc > 0.65, f"expected the L2 high network to classify 2000 fresh points (> 0.65), got {acc:.3f}"


@exercise.check(task="2", points=1)
def penalty_closes_the_gap_and_too_much_underfits(r, ctx):
    s = {key: _scores(_network(r, ctx, key)[0], ctx) for key in ("none", *L2_VARIANTS)}
    gap = {VARIANTS[key]: v["val bce"] - v["train bce"] for key, v in s.items()}
    shown = ", ".join(f"{name} {value:+.3f}" for name, value in gap.items())
    assert gap["L2 low"] < gap["none"] and gap["L2 high"] < gap["L2 low"], (
        f"expected the generalisation gap (validation minus training cross-entropy) to shrink with λ, got {shown}"
    )
    assert abs(gap["L2 high"]) < 0.1 < gap["none"], (
        f"expected |gap| < 0.1 for L2 high and > 0.1 without penalty, got {shown}"
    )
    too, high = s["l2_too_high"], s["l2_high"]
    assert too["train bce"] > high["train bce"] + 0.1, (
        f"expected λ = {ctx.params['L2_TOO_HIGH']:g} to underfit: training cross-entropy {too['train bce']:.3f}, "
        f"not 0.1 above that of λ = {ctx.params['L2_HIGH']:g} ({high['train bce']:.3f})"
    )
    assert too["val acc"] < high["val acc"] - 0.05, (
        f"expected λ = {ctx.params['L2_TOO_HIGH']:g} to classify worse than λ = {ctx.params['L2_HIGH']:g}: validation "
        f"accuracy {too['val acc']:.3f}, not 0.05 below {high['val acc']:.3f}"
    )


# ---------------------------------------------------------------------------------------------------- task 3
def _threshold(ctx):
    p = ctx.params
    return 2 * p["LEARNING_RATE"] * p["L1_RATE"] / (1 - p["MOMENTUM"])


def _small(r, ctx):
    """The judge's fractions of kernel weights below THRESHOLD for 'none', 'L2 low' and 'L1'."""
    out = {}
    for key in ("none", "l2_low", "l1"):
        kernels = _network(r, ctx, key)[1][0::2]
        out[VARIANTS[key]] = float(np.mean(np.abs(np.concatenate([k.ravel() for k in kernels])) < _threshold(ctx)))
    return out


@exercise.check(task="3", points=1)
def weights_and_small_are_the_models(r, ctx):
    regs = _regularizers(r, "l1")
    rate = ctx.params["L1_RATE"]
    assert all(cls == "L1" and np.isclose(got, rate) for cls, got in regs), (
        f"expected models['L1'] built with keras.regularizers.L1(L1_RATE) on every Dense layer, got {regs}"
    )
    _history(r, ctx, "l1")
    weights, small = r["weights"], r["small"]
    names = {"none", "L2 low", "L1"}
    assert isinstance(weights, dict) and isinstance(small, dict) and set(weights) == set(small) == names, (
        "expected weights and small with the keys 'none', 'L2 low', 'L1'"
    )
    for key in ("none", "l2_low", "l1"):
        name = VARIANTS[key]
        kernels = np.concatenate([k.ravel() for k in _network(r, ctx, key)[1][0::2]])
        got = array(weights[name], name=f"weights[{name!r}]").ravel()
        assert got.size == kernels.size and np.allclose(np.sort(got), np.sort(kernels)), (
            f"expected weights[{name!r}] = all {kernels.size} kernel weights of models[{name!r}], output layer "
            f"included, got {got.size} values"
        )
        fraction = np.mean(np.abs(kernels) < _threshold(ctx))
        value = number(small[name], f"small[{name!r}]")
        assert np.isclose(value, fraction), f"expected small[{name!r}] = fraction with |w| < THRESHOLD, got {value:.3f}"


@exercise.check(task="3", points=1)
def l1_is_sparse(r, ctx):
    small = _small(r, ctx)
    shown = ", ".join(f"{name} {value:.3f}" for name, value in small.items())
    assert small["L1"] > 0.8, f"expected more than 80 % of the L1 weights below THRESHOLD, got {small['L1']:.2f}"
    assert small["L1"] > small["L2 low"] + 0.3, f"expected far more small weights with L1 than with L2, got {shown}"
    assert small["none"] < 0.05, f"expected hardly any small weights without a penalty, got {small['none']:.2f}"


@exercise.check(task="3", points=1)
def l1_classifies_fresh_points(r, ctx):
    acc = _scores(_network(r, ctx, "l1")[0], ctx)["fresh acc"]
    assert acc > 0.65, f"expected the L1 network to classify 2000 fresh points (> 0.65), got {acc:.3f}"
