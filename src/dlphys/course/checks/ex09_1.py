"""Trusted checks of Exercise 9.1 — forecasting a sine wave with an LSTM (10 points).

The student's ``model``, ``predict``, ``rollout`` and ``ar_forecast`` run on fresh series simulated with the
grader's seed (and on noiseless ones, where AR(2) is exact); the judge has its own least-squares AR forecast to
recompute the choice of ``ar_order`` on its own copy of the training windows. The scan of task (2) keeps no
trained network, so the sandbox trains two of its entries again (two different architectures and their repeats,
chosen with the grader's seed) by the page's recipe, seed ``SEED + 100 * repeat`` included, on the judge's copy of
the data: the reported test MSEs must be those, within 1 % (the page says so). In fast mode one such training takes
a few seconds (6-12 s measured on a busy two-core machine), in full mode well under the 120 s a collected
expression may take.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import sine

N_FRESH = 1000
N_AR = 500  # fresh windows for the student's ar_forecast (a Python loop per window)
N_CLEAN = 50
SHORT = 30  # a window length the network was not trained on


def _rerun(key):
    """A collected expression: train the scan entry ``inputs[key]`` by the page's recipe, return its test MSE."""
    return (
        f"[(_g := {{k: int(v) for k, v in inputs[{key!r}].items()}}), (_d := inputs['scan_data']), "
        "keras.utils.set_random_seed(_g['seed']), "
        "(_g_net := keras.Sequential([keras.Input((None, 1))] + [keras.layers.LSTM(_g['units'], "
        "return_sequences=i < _g['layers'] - 1) for i in range(_g['layers'])] + [keras.layers.Dense(_g['horizon'])])), "
        "_g_net.compile(optimizer=keras.optimizers.Adam(1e-2), loss='mse'), "
        "_g_net.fit(_d['x'], _d['y'], epochs=_g['epochs'], batch_size=_g['batch'], verbose=0), "
        "float(_g_net.evaluate(_d['x_test'], _d['y_test'], verbose=0))][-1]"
    )


exercise = Exercise(
    "09_1_sine_lstm",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "model_short": ("model", lambda r, ctx: ctx.sent["x"][:, : int(ctx.sent["short"])]),
        "model_fresh": ("model", "x"),
    },
    collect={
        "lstm_units": "[layer.units for layer in model.layers if isinstance(layer, keras.layers.LSTM)]",
        "history": "history",
        "ar_clean": "ar_forecast(inputs['clean'], 2)",
        "ar_clean_2d": "ar_forecast(inputs['clean'][:, :, 0], 2)",
        "ar_order": "ar_order",
        "ar_fresh": "ar_forecast(inputs['x'][: int(inputs['n_ar'])], ar_order)",
        "predict_2d": "predict(inputs['x'][:, :, 0])",
        "predict_3d": "predict(inputs['x'][:5])",
        "rollout": "rollout(inputs['x'][:5], int(inputs['steps']))",
        "feedback": "predict(__import__('numpy').concatenate("
        "[inputs['x'][:5, int(inputs['horizon']) :, 0], predict(inputs['x'][:5])], axis=1))",
        "scan": "scan",
        # last: they reseed the kernel (one expression each, so that each has the time limit of one expression)
        "rerun": _rerun("rerun"),
        "rerun_2": _rerun("rerun_2"),
    },
)


def ar_forecast(x, order, horizon):
    """Per-window least-squares AR(order), iterated ``horizon`` steps: (n, length[, 1]) -> (n, horizon)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    lags = np.lib.stride_tricks.sliding_window_view(x[:, :-1], order, axis=1)  # (n, length - order, order)
    coef = np.einsum("nij,nj->ni", np.linalg.pinv(lags), x[:, order:])  # minimal-norm least squares per window
    window = list(np.moveaxis(x[:, -order:], 1, 0))
    for _ in range(horizon):
        window.append(np.einsum("ni,in->n", coef, np.array(window[-order:])))
    return np.stack(window[order:], axis=1)


@exercise.inputs
def fresh(ctx):
    p, rng = ctx.params, ctx.rng
    data = sine.load(fast=ctx.fast)
    n_train = p["N_TRAIN"]
    horizon = data["y"].shape[1]
    new = sine.simulate(N_FRESH, seed=ctx.seed)
    clean = sine.simulate(N_CLEAN, seed=ctx.seed + 1, noise=0.0)
    architectures = [tuple(a) for a in p["ARCHITECTURES"]]
    which = [architectures[i] for i in rng.permutation(len(architectures))[:2]]  # two different architectures
    repeats = [int(r) for r in rng.integers(p["REPEATS"], size=2)]
    reruns = [
        {
            "seed": p["SEED"] + 100 * repeat,
            "layers": layers,
            "units": units,
            "horizon": horizon,
            "epochs": p["EPOCHS_SCAN"],
            "batch": p["BATCH_SCAN"],
        }
        for (layers, units), repeat in zip(which, repeats, strict=True)
    ]
    scan_data = {
        "x": data["x"][: p["N_SCAN"]],
        "y": data["y"][: p["N_SCAN"]],
        "x_test": data["x"][n_train:],
        "y_test": data["y"][n_train:],
    }
    sent = {
        "x": new["x"],
        "short": SHORT,
        "clean": clean["x"],
        "n_ar": N_AR,
        "steps": int(rng.integers(horizon + 1, 2 * horizon)),
        "horizon": horizon,
        "rerun": reruns[0],
        "rerun_2": reruns[1],
        "scan_data": scan_data,
    }
    kept = {
        "y": new["y"],
        "y_clean": new["y_clean"],
        "clean_y": clean["y_clean"],
        "x_train": data["x"][:n_train][:2000],
        "y_train": data["y"][:n_train][:2000],
        "mse_zero": float(np.mean(data["y"][n_train:] ** 2)),
        "rerun": (which[0], repeats[0]),
        "rerun_2": (which[1], repeats[1]),
    }
    return sent, kept


def _forecast(value, n, horizon, what):
    out = array(value, name=what)
    assert out.shape == (n, horizon), f"expected {what} of shape (n, {horizon}), got {out.shape}"
    return out


# ------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def lstm_forecaster_structure(r, ctx):
    units = ctx.params["UNITS"]
    assert units in np.ravel(array(r["lstm_units"], name="the LSTM layers' units")), (
        f"expected an LSTM layer of UNITS = {units} cells in model"
    )
    horizon = ctx.sent["horizon"]
    _forecast(r["model_short"], len(ctx.sent["x"]), horizon, f"model's output for windows of {SHORT} samples")
    history = r["history"]
    assert isinstance(history, dict) and "val_loss" in history and "loss" in history, (
        "expected history = the History of model.fit with a validation split"
    )
    n_epochs = len(np.ravel(array(history["loss"], name="history['loss']")))
    assert n_epochs <= ctx.params["EPOCHS"], f"expected at most EPOCHS = {ctx.params['EPOCHS']} epochs, got {n_epochs}"


@exercise.check(task="1", points=1)
def lstm_beats_forecasting_zero(r, ctx):
    y = ctx.kept["y"]
    pred = _forecast(r["model_fresh"], len(y), y.shape[1], "the model's forecast")
    mse, zero = np.mean((pred - y) ** 2), np.mean(y**2)
    assert mse < 0.5 * zero, (
        f"expected the trained LSTM to halve the MSE of forecasting 0 on fresh series, got {mse / zero:.2f} × it"
    )


@exercise.check(task="1", points=1)
def ar2_continues_a_noiseless_sine(r, ctx):
    want = ctx.kept["clean_y"]
    got = _forecast(r["ar_clean"], *want.shape, "ar_forecast(x, 2)")
    got_2d = _forecast(r["ar_clean_2d"], *want.shape, "ar_forecast(x, 2) for x of shape (n, length)")
    assert np.allclose(got_2d, got), "expected the same forecast for x of shape (n, length) and (n, length, 1)"
    assert np.allclose(got, want, atol=1e-3), "expected AR(2) to continue a noiseless sine exactly"


@exercise.check(task="1", points=1)
def ar_order_fits_the_training_windows_best(r, ctx):
    order = number(r["ar_order"], "ar_order")
    assert order == int(order) and 2 <= order <= 16, f"expected ar_order, an int from 2 to 16, got {order}"
    x, y, horizon = ctx.kept["x_train"], ctx.kept["y_train"], ctx.sent["horizon"]
    mse = {p: np.mean((ar_forecast(x, p, horizon) - y) ** 2) for p in range(2, 17)}
    assert mse[int(order)] <= min(mse.values()) * (1 + 1e-6), (
        f"expected ar_order = the order from 2 to 16 with the smallest MSE on the training windows, got {int(order)}"
    )
    y_fresh = ctx.kept["y"][: ctx.sent["n_ar"]]
    pred = _forecast(r["ar_fresh"], *y_fresh.shape, "ar_forecast(x, ar_order)")
    floor = np.mean((y_fresh - ctx.kept["y_clean"][: len(y_fresh)]) ** 2)
    got = np.mean((pred - y_fresh) ** 2)
    assert floor < got < 3 * floor, (
        f"expected the AR(ar_order) forecast of fresh series within 3 σ² of the noise floor, got {got / floor:.2f} σ²"
    )


@exercise.check(task="1", points=2)
def predict_on_fresh_series(r, ctx):
    y = ctx.kept["y"]
    got = _forecast(r["predict_2d"], *y.shape, "predict(x) for x of shape (n, length)")
    model = _forecast(r["model_fresh"], *y.shape, "the model's forecast")
    assert np.allclose(got, model, atol=1e-5), "expected predict(x) = the trained model's forecast"
    head = _forecast(r["predict_3d"], 5, y.shape[1], "predict(x) for x of shape (n, length, 1)")
    assert np.allclose(head, got[:5], atol=1e-5), "expected predict to take (n, length, 1) as well"
    mse, zero = np.mean((got - y) ** 2), np.mean(y**2)
    assert mse < 0.5 * zero, f"expected predict to beat forecasting 0 by a factor 2, got {mse / zero:.2f} × its MSE"


@exercise.check(task="1", points=1)
def rollout_feeds_the_forecast_back(r, ctx):
    steps, horizon = ctx.sent["steps"], ctx.sent["horizon"]
    got = array(r["rollout"], name="rollout(x, steps)")
    assert got.shape == (5, steps), f"expected rollout(x, steps) of shape (n, steps), got {got.shape}"
    first = _forecast(r["predict_3d"], 5, horizon, "predict(x)")
    second = _forecast(r["feedback"], 5, horizon, "predict of the continued window")
    assert np.allclose(got, np.concatenate([first, second], axis=1)[:, :steps], atol=1e-4), (
        "expected rollout to append each forecast to the window, drop the oldest values and forecast again"
    )


# ------------------------------------------------------------------------------------------------- task 2
def _scan(r, ctx):
    scan = r["scan"]
    architectures = [tuple(a) for a in ctx.params["ARCHITECTURES"]]
    assert isinstance(scan, dict) and sorted(scan) == sorted(str(a) for a in architectures), (
        f"expected scan with the keys {architectures}"
    )
    return scan


def _trained_again(r, ctx, key):
    """The reported test MSE of the scan entry ``ctx.kept[key]`` against the grader's training of it."""
    scan = _scan(r, ctx)
    (layers, units), repeat = ctx.kept[key]
    again = number(r[key], "the test MSE of the training repeated by the grader")
    reported = np.ravel(array(scan[str((layers, units))].get("mse"), name=f"scan[{(layers, units)}]['mse']"))
    assert len(reported) > repeat, f"expected scan[{(layers, units)}]['mse'] with one value per repeat"
    assert np.isclose(reported[repeat], again, rtol=0.01), (
        f"expected scan[{(layers, units)}]['mse'][{repeat}] = the test MSE of that training within 1 % (the page's "
        f"recipe: keras.utils.set_random_seed(SEED + 100 * repeat) right before build, Adam(0.01) and the MSE, fit on "
        f"x_train[:N_SCAN], y_train[:N_SCAN] for EPOCHS_SCAN epochs in batches of BATCH_SCAN, nothing else that "
        f"changes the training), got {reported[repeat]:.4f}"
    )


@exercise.check(task="2", points=1)
def scan_complete_and_a_second_entry_trained_again(r, ctx):
    scan, repeats = _scan(r, ctx), ctx.params["REPEATS"]
    for arch, row in scan.items():
        assert isinstance(row, dict), f"expected scan[{arch}] to be a dict"
        for key in ("mse", "seconds_per_epoch", "cpu_seconds_per_epoch"):
            values = np.ravel(array(row.get(key), name=f"scan[{arch}][{key!r}]"))
            assert len(values) == repeats and np.all(values > 0), (
                f"expected scan[{arch}][{key!r}]: {repeats} positive values"
            )
        mse = np.ravel(array(row["mse"]))
        assert len(set(mse.tolist())) == repeats, f"expected different test MSEs for the {repeats} seeds of {arch}"
        assert mse.mean() < 0.7 * ctx.kept["mse_zero"], (
            f"expected the mean test MSE of {arch} below 0.7 times that of forecasting 0, got {mse.mean():.4f}"
        )
    _trained_again(r, ctx, "rerun_2")


@exercise.check(task="2", points=2)
def scan_entry_trained_again(r, ctx):
    _trained_again(r, ctx, "rerun")
