"""Trusted checks of Exercise 5.3 — wine quality: optimisers, batch size and depth (10 points).

The wine data have no simulator: the judge loads its own copy of the split the notebook makes (the test wines and
the validation wines that no variant trains on, from ``SEED``) and gets back every variant's outputs on them, so
every validation and test MSE the notebook reports is recomputed here. The optimiser, its number of updates and the
layers of each variant come back as numbers and names read off the trained Keras model.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import wine

VARIANTS = {
    "sgd": "SGD, batch 1",
    "batch5": "SGD, batch 5",
    "momentum": "SGD + momentum, batch 5",
    "adam": "Adam, batch 5",
    "deep": "Adam, 3 hidden layers, batch 5",
}
SIMPLEST_FIRST = [  # the notebook's given list of (6)
    "SGD, batch 5",
    "SGD, batch 1",
    "SGD + momentum, batch 5",
    "Adam, batch 5",
    "Adam, 3 hidden layers, batch 5",
]
_SETUP = (
    "{{'keys': sorted(results[{name!r}]), 'seconds': results[{name!r}]['seconds'], "
    "'optimizer': type(results[{name!r}]['model'].optimizer).__name__, "
    "'learning_rate': keras.ops.convert_to_numpy(results[{name!r}]['model'].optimizer.learning_rate), "
    "'momentum': getattr(results[{name!r}]['model'].optimizer, 'momentum', None), "
    "'iterations': keras.ops.convert_to_numpy(results[{name!r}]['model'].optimizer.iterations), "
    "'layers': [{{'class': type(layer).__name__, "
    "**{{key: layer.get_config().get(key) for key in ('units', 'activation')}}}} "
    "for layer in results[{name!r}]['model'].layers]}}"
)

collect = {
    "mse_sgd": "mse_sgd",
    "mse_batch5": "mse_batch5",
    "mse_momentum": "mse_momentum",
    "mse_adam": "mse_adam",
    "mse_deep": "mse_deep",
    "variants": "list(results)",
    "val_final": "val_final",
    "sigma_val": "sigma_val",
    "best": "best",
    "test_mse": "test_mse",
    "test_mse_is_float": "isinstance(test_mse, float)",
}
for _key, _name in VARIANTS.items():
    collect[f"{_key}_outputs"] = f"keras.ops.convert_to_numpy(results[{_name!r}]['model'](inputs['x']))"
    collect[f"{_key}_setup"] = _SETUP.format(name=_name)
    collect[f"{_key}_history"] = f"results[{_name!r}]['history']"

exercise = Exercise("05_3_wine_optimizers", collect=collect)


@exercise.inputs
def own_split(ctx):
    p = ctx.params
    data = wine.load(test_fraction=p["TEST_FRACTION"], seed=p["SEED"]).standardized()
    order = np.random.default_rng(p["SEED"]).permutation(len(data.y_train))  # the notebook's split
    n_val = int(p["VAL_FRACTION"] * len(order))
    y_fit, y_val = data.y_train[order[n_val:]], data.y_train[order[:n_val]]
    x = np.concatenate([data.x_train[order[:n_val]], data.x_test]).astype("float32")
    kept = {"y_fit": y_fit, "y_val": y_val, "y_test": data.y_test, "n_val": n_val}
    return {"x": x}, kept


def _target(ctx):
    """The page's bound for every variant: (0.85 fast, 0.8 full) × the constant-mean validation MSE."""
    y_fit, y_val = ctx.kept["y_fit"], ctx.kept["y_val"]
    baseline = float(np.mean((y_val.astype("float32") - y_fit.astype("float32").mean()) ** 2))
    return (0.85 if ctx.fast else 0.8) * baseline


def _mse(r, ctx, key):
    """Validation and test MSE of variant ``key``, from its outputs on the judge's wines."""
    n_val, y_val, y_test = ctx.kept["n_val"], ctx.kept["y_val"], ctx.kept["y_test"]
    out = array(r[f"{key}_outputs"], (n_val + len(y_test), 1), f"the output of results[{VARIANTS[key]!r}]['model']")
    return float(np.mean((out[:n_val, 0] - y_val) ** 2)), float(np.mean((out[n_val:, 0] - y_test) ** 2))


def _set_up(r, ctx, key, optimizer, learning_rate, batch_size, hidden_layers, momentum=None):
    """The variant ``key`` was trained as asked: results entry, History, optimiser, updates, layers."""
    name, epochs = VARIANTS[key], ctx.params["EPOCHS"]
    setup = r[f"{key}_setup"]
    assert isinstance(setup, dict), f"expected results[{name!r}] from run()"
    assert {"history", "model", "seconds"} <= set(setup["keys"]), (
        "expected results[name] = {'history': ..., 'model': ..., 'seconds': ...}"
    )
    history = r[f"{key}_history"]
    assert isinstance(history, dict) and "val_loss" in history, (
        f"expected results[{name!r}]['history'] = history.history of a fit with validation data"
    )
    n = len(array(history["val_loss"], name=f"results[{name!r}]['history']['val_loss']"))
    assert n == epochs, f"expected {epochs} epochs with validation_data=(x_val, y_val), got {n}"
    assert setup["optimizer"] == optimizer, f"expected the optimiser {optimizer}, got {setup['optimizer']}"
    lr = number(setup["learning_rate"], "the learning rate")
    assert np.isclose(lr, learning_rate), f"expected the learning rate {learning_rate:g}, got {lr:g}"
    if momentum is not None:
        got = number(setup["momentum"], "the momentum")
        assert np.isclose(got, momentum), f"expected momentum {momentum:g}, got {got:g}"
    updates = int(number(setup["iterations"], "the optimiser's iterations"))
    expected = epochs * int(np.ceil(len(ctx.kept["y_fit"]) / batch_size))
    assert updates == expected, (
        f"expected {epochs} epochs of updates with batch_size={batch_size} on x_fit ({expected}), got {updates}"
    )
    layers = setup["layers"]
    assert isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers), "expected a Keras model"
    dense = [layer for layer in layers if layer.get("class") == "Dense"]
    assert len(dense) == hidden_layers + 1, (
        f"expected {hidden_layers} hidden layer{'s' if hidden_layers > 1 else ''} and the output layer, got "
        f"{len(dense)} Dense layers"
    )
    hidden = [(int(number(layer.get("units"))), layer.get("activation")) for layer in dense[:-1]]
    assert all(h == (ctx.params["N_HIDDEN"], "sigmoid") for h in hidden), (
        f"expected hidden layers of N_HIDDEN sigmoid nodes (the given build_model), got {hidden}"
    )
    assert number(setup["seconds"], f"results[{name!r}]['seconds']") > 0, "expected the training time in s"


def _reported_and_good(r, ctx, key, reported):
    """``reported`` = the variant's validation MSE, recomputed here, and below the page's bound."""
    name = VARIANTS[key]
    val = _mse(r, ctx, key)[0]
    got = number(r[reported], reported)
    assert np.isclose(got, val, rtol=1e-3), (
        f"expected {reported} = the validation MSE of results[{name!r}]['model'] on (x_val, y_val), got {got:.4f}"
    )
    target = _target(ctx)
    assert val < target, f"expected a validation MSE below {target:.3f} for {name!r}, got {val:.3f}"


# ---------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def sgd_batch1_is_set_up_as_asked(r, ctx):
    _set_up(r, ctx, "sgd", "SGD", ctx.params["LEARNING_RATE"], batch_size=1, hidden_layers=1, momentum=0.0)


@exercise.check(task="1", points=1)
def mse_sgd_is_the_validation_mse(r, ctx):
    val = _mse(r, ctx, "sgd")[0]
    got = number(r["mse_sgd"], "mse_sgd")
    assert np.isclose(got, val, rtol=1e-3), (
        f"expected mse_sgd = the validation MSE of results['SGD, batch 1']['model'] on (x_val, y_val), got {got:.4f}"
    )


@exercise.check(task="1", points=1)
def sgd_batch1_beats_the_baseline(r, ctx):
    val, target = _mse(r, ctx, "sgd")[0], _target(ctx)
    assert val < target, f"expected a validation MSE below {target:.3f} (the page's bound), got {val:.3f}"


# ------------------------------------------------------------------------------------------------ tasks 2-5
@exercise.check(task="2", points=1)
def sgd_batch5(r, ctx):
    _set_up(r, ctx, "batch5", "SGD", ctx.params["LEARNING_RATE"], batch_size=5, hidden_layers=1, momentum=0.0)
    _reported_and_good(r, ctx, "batch5", "mse_batch5")


@exercise.check(task="3", points=1)
def sgd_momentum_batch5(r, ctx):
    _set_up(r, ctx, "momentum", "SGD", ctx.params["LEARNING_RATE"], batch_size=5, hidden_layers=1, momentum=0.9)
    _reported_and_good(r, ctx, "momentum", "mse_momentum")


@exercise.check(task="4", points=1)
def adam_batch5(r, ctx):
    _set_up(r, ctx, "adam", "Adam", 1e-3, batch_size=5, hidden_layers=1)
    _reported_and_good(r, ctx, "adam", "mse_adam")


@exercise.check(task="5", points=1)
def adam_three_hidden_layers(r, ctx):
    _set_up(r, ctx, "deep", "Adam", 1e-3, batch_size=5, hidden_layers=3)
    _reported_and_good(r, ctx, "deep", "mse_deep")


# ---------------------------------------------------------------------------------------------------- task 6
def _val_final(r, ctx):
    """The student's val_final, checked against the last val_loss of each variant and the judge's validation MSE."""
    variants = r["variants"]
    val_final = r["val_final"]
    assert isinstance(val_final, dict) and isinstance(variants, list) and set(val_final) == set(variants), (
        "expected val_final: a validation MSE for every variant in results"
    )
    assert set(variants) == set(VARIANTS.values()), f"expected the five variants of (1)-(5) in results, got {variants}"
    out = {}
    for key, name in VARIANTS.items():
        got = number(val_final[name], f"val_final[{name!r}]")
        last = array(r[f"{key}_history"]["val_loss"], name=f"results[{name!r}]['history']['val_loss']")[-1]
        assert np.isclose(got, last), f"expected val_final[{name!r}] = its last val_loss, got {got:.4f}"
        val = _mse(r, ctx, key)[0]
        assert np.isclose(got, val, rtol=1e-3), (
            f"expected val_final[{name!r}] = the validation MSE of its model after the last epoch, got {got:.4f}"
        )
        out[name] = got
    return out


@exercise.check(task="6", points=1)
def val_final_is_the_last_validation_mse(r, ctx):
    _val_final(r, ctx)


@exercise.check(task="6", points=1)
def best_follows_the_rule(r, ctx):
    val_final = _val_final(r, ctx)
    n_val, y_val = ctx.kept["n_val"], ctx.kept["y_val"]
    out = array(r["sgd_outputs"], name="the output of results['SGD, batch 1']['model']")[:n_val, 0]
    squared = (out - y_val) ** 2
    sigma = float(squared.std() / np.sqrt(len(y_val)))
    sigma_val = number(r["sigma_val"], "sigma_val")
    assert np.isclose(sigma_val, sigma, rtol=1e-3), "expected sigma_val of the given cell of (6)"
    within = [n for n in SIMPLEST_FIRST if val_final[n] <= min(val_final.values()) + sigma_val]
    best = r["best"]
    assert isinstance(best, str) and best in val_final, f"expected best = the name of a variant, got {best!r}"
    assert best == within[0], (
        f"expected best = the first variant of SIMPLEST_FIRST within sigma_val of the lowest validation MSE, "
        f"got {best!r}"
    )


@exercise.check(task="6", points=1)
def test_mse_of_the_chosen_variant(r, ctx):
    best = r["best"]
    keys = {name: key for key, name in VARIANTS.items()}
    assert isinstance(best, str) and best in keys, f"expected best = the name of a variant, got {best!r}"
    test = _mse(r, ctx, keys[best])[1]
    got = number(r["test_mse"], "test_mse")
    assert bool(np.asarray(r["test_mse_is_float"])), "expected test_mse as a float"
    assert np.isclose(got, test, rtol=1e-3), (
        f"expected test_mse = the MSE of results[best]['model'] on (x_test, y_test), got {got:.4f}"
    )
    y_fit, y_test = ctx.kept["y_fit"], ctx.kept["y_test"]
    baseline = float(np.mean((y_test - y_fit.mean()) ** 2))
    assert 0.3 < test < 0.8 * baseline, f"expected a test MSE between 0.3 and {0.8 * baseline:.3f}, got {test:.3f}"
