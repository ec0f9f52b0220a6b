"""Trusted checks of Exercise 7.2 — air-shower energy with a fully connected network (10 points).

The judge loads its own copy of the showers (the cached data set, the notebook's split) and prepares the inputs
itself with ``airshower.network_input``. The student's ``model`` comes back saved and is run by the judge in a
clean sandbox without the student's code (:mod:`dlphys.course.models`) on the judge's copy of the test showers
(its outputs must match the reported ``log_e_pred``, ``resolution`` and ``bias``) and on fresh showers simulated
with the grader's seed; ``predict`` gets the fresh showers as ``airshower.simulate`` returns them (without the true
energy). The bounds are those the page states: the mean squared error of log10 E below half its variance (task 2), a
resolution below 60 % and a bias within ±15 % over all energies (task 3), and on fresh showers a resolution close to
that on the test showers (task 4, ``predict``).
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import airshower
from dlphys.reco import airshower as reco

N_FRESH = 3000  # fresh showers: their overall resolution is measured to about 1 % of itself
TIME_UNIT = 1e-5

exercise = Exercise(
    "07_2_airshower_energy_fcn",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={"model_test": ("model", "x_test"), "model_fresh": ("model", lambda r, ctx: ctx.kept["x_fresh"])},
    collect={
        "x_train_rows": "x_train[::16]",
        "x_train_shape": "x_train.shape",
        "x_test": "x_test",
        "y_train": "y_train",
        "y_test": "y_test",
        "history": "history",
        "train_time": "train_time",
        "log_e_pred": "log_e_pred",
        "resolution": "resolution",
        "bias": "bias",
        "predict_fresh": "predict(inputs['fresh'])",
    },
)


def _flat(events):
    x = airshower.network_input(events, time_unit=TIME_UNIT)
    return x.reshape(len(x), -1)


@exercise.inputs
def fresh(ctx):
    events = airshower.load(fast=ctx.fast)
    n, test_size = len(events["logE"]), ctx.params["TEST_SIZE"]
    train = {key: value[: n - test_size] for key, value in events.items()}
    test = {key: value[n - test_size :] for key, value in events.items()}
    new = airshower.simulate(N_FRESH, seed=ctx.seed)
    shown = {key: new[key] for key in ("signal", "time", "triggered", "axis", "core")}  # no true energy
    sent = {"x_test": _flat(test), "fresh": shown}
    kept = {
        "x_fresh": _flat(new),
        "x_train_rows": _flat({key: train[key][::16] for key in ("signal", "time", "triggered")}),
        "n_train": n - test_size,
        "x_test": sent["x_test"],
        "y_train": train["logE"],
        "y_test": test["logE"],
        "y_fresh": new["logE"],
    }
    return sent, kept


def _model_output(r, name, n, what):
    out = array(r[name], name=what)
    assert out.shape == (n, 1), f"expected model: inputs (n, 162) -> log10(E/eV) (n, 1), got shape {out.shape}"
    return out[:, 0]


def _bins(log_e_true, log_e_pred, edges):
    """Resolution (std, ddof=0) and bias (mean) of E_pred/E − 1 per bin of true log10 E, outer edges inclusive."""
    ratio = 10.0 ** (np.asarray(log_e_pred, dtype=float) - log_e_true) - 1.0
    which = np.clip(np.digitize(log_e_true, edges) - 1, 0, len(edges) - 2)
    res = np.array([ratio[which == i].std() for i in range(len(edges) - 1)])
    bias = np.array([ratio[which == i].mean() for i in range(len(edges) - 1)])
    return res, bias


@exercise.check(task="1", points=1.5)
def inputs_are_the_flattened_network_input(r, ctx):
    kept = ctx.kept
    x_test = np.asarray(r["x_test"])
    assert x_test.dtype == np.float32, f"expected x_test as float32, got {x_test.dtype}"
    assert x_test.shape == kept["x_test"].shape, f"expected x_test of shape {kept['x_test'].shape}, got {x_test.shape}"
    assert np.allclose(x_test, kept["x_test"], atol=1e-6), (
        "expected x_test = airshower.network_input(test_events, time_unit=1e-5) flattened to (n, 162)"
    )
    shape = tuple(int(s) for s in np.ravel(array(r["x_train_shape"], name="x_train.shape")))
    assert shape == (kept["n_train"], 162), f"expected x_train of shape ({kept['n_train']}, 162), got {shape}"
    rows = np.asarray(r["x_train_rows"])
    assert rows.dtype == np.float32, f"expected x_train as float32, got {rows.dtype}"
    assert rows.shape == kept["x_train_rows"].shape and np.allclose(rows, kept["x_train_rows"], atol=1e-6), (
        "expected x_train = airshower.network_input(train_events, time_unit=1e-5) flattened to (n, 162)"
    )


@exercise.check(task="1", points=0.5)
def targets_are_the_log_energies(r, ctx):
    for name in ("y_train", "y_test"):
        want = ctx.kept[name]
        got = array(r[name], name=name)
        assert got.shape == want.shape, f"expected {name} of shape {want.shape}, got {got.shape}"
        assert np.allclose(got, want, atol=1e-5), f"expected {name} = log10(E/eV) of the showers"


@exercise.check(task="2", points=1)
def model_history_and_training_time(r, ctx):
    _model_output(r, "model_fresh", len(ctx.kept["y_fresh"]), "the model's output")
    history = r["history"]
    epochs = ctx.params["EPOCHS"]
    assert isinstance(history, dict) and "val_loss" in history and "loss" in history, (
        "expected history = the History of model.fit with a validation split (val_loss)"
    )
    n_epochs = len(np.ravel(array(history["loss"], name="history['loss']")))
    assert 1 <= n_epochs <= epochs, f"expected at most {epochs} epochs in history, got {n_epochs}"
    assert number(r["train_time"], "train_time") > 0, "expected train_time, the training time in seconds (> 0)"
    # the history must be the saved model's training: with restore_best_weights its best validation loss is the MSE
    # the model has on showers like the validation showers (the judge's fresh showers, the same distribution)
    best = float(np.min(array(history["val_loss"], name="history['val_loss']")))
    y = ctx.kept["y_fresh"]
    mse = float(np.mean((_model_output(r, "model_fresh", len(y), "the model's output") - y) ** 2))
    assert best > 0 and 0.5 < mse / best < 2.0, (
        f"expected the best validation loss of history ({best:.4g}) near the saved model's MSE of log10 E on fresh "
        f"showers ({mse:.4g}): history should be the training of `model`"
    )


@exercise.check(task="2", points=2)
def model_beats_a_constant_guess_on_fresh_showers(r, ctx):
    y = ctx.kept["y_fresh"]
    pred = _model_output(r, "model_fresh", len(y), "the model's output")
    ratio = np.mean((pred - y) ** 2) / np.var(y)
    assert ratio < 0.5, (
        f"expected the model's MSE of log10 E on fresh showers below half their variance, got {ratio:.2f} × the "
        "variance"
    )


@exercise.check(task="3", points=2)
def predictions_resolution_and_bias_per_bin(r, ctx):
    y = ctx.kept["y_test"]
    edges = ctx.params["E_BINS"]
    pred = _model_output(r, "model_test", len(y), "the model's output")
    log_e_pred = array(r["log_e_pred"], name="log_e_pred")
    assert log_e_pred.shape == y.shape, f"expected log_e_pred of shape ({len(y)},), got {log_e_pred.shape}"
    assert np.allclose(log_e_pred, pred, atol=1e-4), "expected log_e_pred = the model's predictions for x_test"
    res, bias = _bins(y, pred, edges)
    m = len(edges) - 1
    resolution = array(r["resolution"], name="resolution")
    got_bias = array(r["bias"], name="bias")
    assert resolution.shape == got_bias.shape == (m,), (
        f"expected one resolution and bias per bin, shape ({m},), got {resolution.shape} and {got_bias.shape}"
    )
    assert np.allclose(resolution, res, rtol=0.03), "expected resolution = std of E_pred/E − 1 in each bin of true E"
    assert np.allclose(got_bias, bias, atol=1e-3), "expected bias = mean of E_pred/E − 1 in each bin of true E"


@exercise.check(task="3", points=1)
def resolution_and_bias_on_fresh_showers(r, ctx):
    y = ctx.kept["y_fresh"]
    net = reco.energy_resolution(y, _model_output(r, "model_fresh", len(y), "the model's output"))
    assert net["resolution_all"] < 0.6 and abs(net["bias_all"]) < 0.15, (
        f"expected a resolution below 60 % and a bias within ±15 % over all energies of fresh showers, got "
        f"{100 * net['resolution_all']:.0f} % and {100 * net['bias_all']:+.0f} %"
    )


@exercise.check(task="4", points=2)
def predict_works_on_fresh_showers(r, ctx):
    y = ctx.kept["y_fresh"]
    got = array(r["predict_fresh"], name="predict(events)")
    assert got.shape == y.shape, f"expected predict(events) of shape ({len(y)},), got {got.shape}"
    # the units, by the median: one poorly reconstructed shower of a fast-mode network may lie outside any range
    assert 17.5 < np.median(got) < 21.0, "expected predict to return log10(E/eV)"
    model = _model_output(r, "model_fresh", len(y), "the model's output")
    assert np.allclose(got, model, atol=1e-4), (
        "expected predict(events) = the model's output on the inputs of task (1) (network_input, time_unit=1e-5)"
    )
    test = reco.energy_resolution(
        ctx.kept["y_test"], _model_output(r, "model_test", len(ctx.kept["y_test"]), "the model's output")
    )
    new = reco.energy_resolution(y, got)
    bound = max(1.3 * test["resolution_all"], test["resolution_all"] + 0.05)
    assert new["resolution_all"] < bound, (
        f"expected the resolution on fresh showers close to that on the test showers, got "
        f"{100 * new['resolution_all']:.1f} % against {100 * test['resolution_all']:.1f} %"
    )
