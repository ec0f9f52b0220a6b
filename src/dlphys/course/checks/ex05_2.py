"""Trusted checks of Exercise 5.2 — interpolation and extrapolation of a damped oscillator (10 points).

The judge draws fresh measurements and fresh times inside and beyond the measured range with the grader's seed,
and gets back every trained network's outputs there and on its own copy of the validation times (the notebook's
``measure`` with the seed ``SEED``): mean squared errors and RMS deviations from the true curve are recomputed here,
and the last validation MSE of each History must be that of its network. ``build_model`` is called on a rate drawn
with the grader's seed, and the layers of the networks it returns come back as their Keras configurations.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number

AMPLITUDE, DAMPING_TIME, PERIOD = 1.0, 5.0, 4.0  # cm, s, s: the notebook's oscillator (not in its parameters cell)
N_FRESH, N_INSIDE, N_OUTSIDE = 400, 1001, 500


def oscillator(t):
    """Displacement in cm of the notebook's damped oscillator at times t in s."""
    t = np.asarray(t, dtype=float)
    return AMPLITUDE * np.exp(-t / DAMPING_TIME) * np.cos(2 * np.pi * t / PERIOD)


def _layers(model: str) -> str:
    """Expression: class, units, activation, scale and kernel regulariser of every layer of ``model``."""
    keys = "('units', 'activation', 'scale', 'kernel_regularizer')"
    return (
        "[{'class': type(layer).__name__, **{key: layer.get_config().get(key) for key in " + keys + "}} "
        f"for layer in {model}.layers]"
    )


_FIRST_MODEL = "(models[0.0] if isinstance(globals().get('models'), dict) and 0.0 in models else model)"


def _at(name):
    """The saved model's input at the times ``name`` the notebook chose: shape (n, 1)."""
    return lambda r, ctx: np.asarray(array(r[name], name=name), dtype="float32").reshape(-1, 1)


exercise = Exercise(
    "05_2_interpolation",
    # saved, and run by the judge in a clean sandbox
    models={"model": "model"},
    runs={
        "model_outputs": ("model", "t"),
        "model_at_t_inside": ("model", _at("t_inside")),
        "model_at_t_outside": ("model", _at("t_outside")),
    },
    collect={
        "built_plain": _layers("build_model(0.0)"),
        "built_l2": _layers("build_model(inputs['rate'])"),
        "built_new": "build_model(0.0) is not model",
        "built_output": "keras.ops.convert_to_numpy(build_model(0.0)(inputs['t_probe']))",
        "history": "history",
        "first_outputs": f"keras.ops.convert_to_numpy({_FIRST_MODEL}(inputs['t']))",
        "histories": "histories",
        "models_outputs": "{rate: keras.ops.convert_to_numpy(m(inputs['t'])) for rate, m in models.items()}",
        "models_layers": "{rate: " + _layers("m") + " for rate, m in models.items()}",
        "val_mse": "val_mse",
        "best_rate": "best_rate",
        "t_inside": "t_inside",
        "x_inside": "x_inside",
        "rms_inside": "rms_inside",
        "t_outside": "t_outside",
        "x_outside": "x_outside",
        "rms_outside": "rms_outside",
    },
)


@exercise.inputs
def fresh(ctx):
    p, rng = ctx.params, ctx.rng
    t_fresh = np.sort(rng.uniform(0.0, p["T_MAX"], N_FRESH))
    x_fresh = oscillator(t_fresh.astype("float32")) + rng.normal(0.0, p["NOISE"], N_FRESH)
    t_inside = np.sort(rng.uniform(0.0, p["T_MAX"], N_INSIDE))
    t_outside = np.sort(p["T_FUTURE"] - rng.uniform(0.0, p["T_FUTURE"] - p["T_MAX"], N_OUTSIDE))  # in (10, 15]
    notebook = np.random.default_rng(p["SEED"])  # the notebook's measure(N_TRAIN), then measure(N_VAL)
    for n in (p["N_TRAIN"], p["N_VAL"]):
        t_val = np.sort(notebook.uniform(0.0, p["T_MAX"], n))
        x_val = (oscillator(t_val) + notebook.normal(0.0, p["NOISE"], n)).astype("float32")
    t = np.concatenate([t_fresh, t_inside, t_outside, t_val]).astype("float32")[:, None]
    sent = {
        "t": t,
        "t_probe": rng.uniform(0.0, p["T_MAX"], (3, 1)).astype("float32"),
        "rate": float(10 ** rng.uniform(-5, -2)),
    }
    bounds = np.cumsum([0, N_FRESH, N_INSIDE, N_OUTSIDE, len(t_val)])
    parts = {
        name: slice(a, b)
        for name, a, b in zip(("fresh", "inside", "outside", "val"), bounds[:-1], bounds[1:], strict=True)
    }
    return sent, {"parts": parts, "x_fresh": x_fresh, "x_val": x_val}


def _outputs(value, ctx, name):
    """A network's outputs on the judge's times, split into fresh, inside, outside and validation times."""
    out = array(value, (len(ctx.sent["t"]), 1), name)[:, 0]
    return {part: out[where] for part, where in ctx.kept["parts"].items()}


def _times(ctx, part):
    return ctx.sent["t"][ctx.kept["parts"][part], 0].astype(float)


def _mse(out, ctx):
    return float(np.mean((out["fresh"] - ctx.kept["x_fresh"]) ** 2))


def _rms(out, ctx, part):
    return float(np.sqrt(np.mean((out[part] - oscillator(_times(ctx, part))) ** 2)))


def _dense(layers, what):
    """(units, activation, regulariser class, rate) of every Dense layer of a returned layer list."""
    assert isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers), f"expected {what}"
    out = []
    for layer in layers:
        if layer.get("class") != "Dense":
            continue
        reg = layer.get("kernel_regularizer")
        cls, rate = None, 0.0
        if reg is not None:
            assert isinstance(reg, dict) and isinstance(reg.get("config"), dict), (
                f"expected Keras regularisers in {what}"
            )
            cls = reg.get("class_name")
            rate = sum(number(v) for k, v in reg["config"].items() if k in ("l1", "l2"))
        out.append((int(number(layer.get("units"))), layer.get("activation"), cls, rate))
    return out


def _rescaling(layers):
    return [number(layer.get("scale")) for layer in layers if layer.get("class") == "Rescaling"]


def _history(history, ctx, name):
    epochs = ctx.params["EPOCHS"]
    assert isinstance(history, dict) and {"loss", "mse", "val_mse"} <= set(history), (
        f"expected {name} of a model compiled with metrics=['mse'] and trained with validation data"
    )
    val = array(history["val_mse"], name=f"{name}['val_mse']")
    assert len(val) == epochs, f"expected {name} of {epochs} epochs, got {len(val)}"
    return val


def _validated(history, out, ctx, name):
    """The History's last val_mse must be the MSE of its network on the validation points."""
    val = _history(history, ctx, name)
    mse = np.mean((out["val"] - ctx.kept["x_val"]) ** 2)
    assert np.isclose(val[-1], mse, rtol=1e-3), (
        f"expected {name}['val_mse'][-1] = the MSE of its network on (t_val, x_val), got {val[-1]:.3e} cm²"
    )
    return val


# ---------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def build_model_makes_the_network(r, ctx):
    p = ctx.params
    assert bool(np.asarray(r["built_new"])), "expected build_model to return a new network on every call"
    plain = r["built_plain"]
    dense = _dense(plain, "build_model(0.0) to return a keras.Sequential of layers")
    assert len(dense) == p["DEPTH"] + 1, f"expected {p['DEPTH']} hidden Dense layers and one output layer"
    assert all(units == p["WIDTH"] and act == "relu" for units, act, _, _ in dense[:-1]), (
        f"expected hidden Dense layers of {p['WIDTH']} ReLU nodes, got {[d[:2] for d in dense[:-1]]}"
    )
    assert dense[-1][:2] == (1, "linear"), f"expected one linear output node, got {dense[-1][:2]}"
    scales = _rescaling(plain)
    assert len(scales) == 1 and np.isclose(scales[0], 1 / p["T_MAX"]), (
        f"expected a Rescaling layer that divides t by {p['T_MAX']:g} s, got scales {scales}"
    )
    out = array(r["built_output"], name="the output of build_model(0.0)")
    assert out.shape == (3, 1), f"expected an output x of shape (N, 1) for t of shape (N, 1), got {out.shape}"


@exercise.check(task="1", points=1)
def build_model_regularises_the_hidden_layers(r, ctx):
    rate = ctx.sent["rate"]
    plain = _dense(r["built_plain"], "build_model(0.0) to return a keras.Sequential of layers")
    assert all(cls is None for _, _, cls, _ in plain), "expected no regulariser for l2_rate = 0"
    dense = _dense(r["built_l2"], "build_model(l2_rate) to return a keras.Sequential of layers")
    assert len(dense) == ctx.params["DEPTH"] + 1, f"expected {ctx.params['DEPTH']} hidden Dense layers and one output"
    assert all(cls == "L2" and np.isclose(got, rate) for _, _, cls, got in dense[:-1]), (
        f"expected keras.regularizers.L2(l2_rate) on every hidden Dense layer; for l2_rate = {rate:.3g} got "
        f"{[(cls, float(f'{got:.3g}')) for _, _, cls, got in dense[:-1]]}"
    )
    assert dense[-1][2] is None, "expected no regulariser on the output layer"


# ---------------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def train_returns_the_history_of_the_model(r, ctx):
    out = _outputs(r["first_outputs"], ctx, "the outputs of the model of (2)")
    _validated(r["history"], out, ctx, "history")


@exercise.check(task="2", points=1)
def model_fits_fresh_measurements(r, ctx):
    mse = _mse(_outputs(r["first_outputs"], ctx, "the outputs of the model of (2)"), ctx)
    noise2 = ctx.params["NOISE"] ** 2
    assert mse < 1e-2, (
        f"expected the trained model to fit {N_FRESH} fresh measurements with MSE < 0.01 cm², got {mse:.2e}"
    )
    assert mse > 0.5 * noise2, f"expected an MSE on fresh measurements no lower than σ²/2, got {mse:.2e} cm²"


# ---------------------------------------------------------------------------------------------------- task 3
def _by_rate(value, ctx, name):
    """``value`` (a dict rate -> ...) with float keys, which must be 0.0 and every rate of L2_RATES."""
    rates = {0.0, *ctx.params["L2_RATES"]}
    assert isinstance(value, dict), f"expected {name} to be a dict rate -> ..."
    out = {}
    for key, item in value.items():
        try:
            out[float(key)] = item
        except ValueError:
            raise AssertionError(f"expected {name} with the rates as keys, got the key {key!r}") from None
    assert set(out) == rates, f"expected {name} with the keys {sorted(rates)}, got {sorted(out)}"
    return out


@exercise.check(task="3", points=1)
def every_rate_is_trained_with_its_penalty(r, ctx):
    layers = _by_rate(r["models_layers"], ctx, "models")
    outputs = _by_rate(r["models_outputs"], ctx, "models")
    histories = _by_rate(r["histories"], ctx, "histories")
    for rate in sorted(layers):
        regs = [(cls, got) for _, _, cls, got in _dense(layers[rate], f"models[{rate:g}] to be a network")[:-1]]
        if rate == 0.0:
            assert all(cls is None for cls, _ in regs), "expected models[0.0] without regulariser (the model of (2))"
        else:
            assert regs and all(cls == "L2" and np.isclose(got, rate) for cls, got in regs), (
                f"expected models[{rate:g}] = build_model({rate:g}), got the regularisers {regs}"
            )
        out = _outputs(outputs[rate], ctx, f"the outputs of models[{rate:g}]")
        _validated(histories[rate], out, ctx, f"histories[{rate:g}]")


@exercise.check(task="3", points=1)
def val_mse_and_best_rate_follow_from_histories(r, ctx):
    histories = _by_rate(r["histories"], ctx, "histories")
    val_mse = _by_rate(r["val_mse"], ctx, "val_mse")
    last = ctx.params["EPOCHS"] // 10
    for rate, history in histories.items():
        mean = np.mean(_history(history, ctx, f"histories[{rate:g}]")[-last:])
        got = number(val_mse[rate], f"val_mse[{rate:g}]")
        assert np.isclose(got, mean, rtol=1e-5), (
            f"expected val_mse[{rate:g}] = mean val_mse of the last {last} epochs, got {got:.3e}"
        )
    best = number(r["best_rate"], "best_rate")
    smallest = min(val_mse, key=lambda rate: number(val_mse[rate]))
    assert np.isclose(best, smallest, rtol=1e-9, atol=0), (
        f"expected best_rate = the rate with the smallest val_mse, got {best:g}"
    )


@exercise.check(task="3", points=1)
def chosen_network_fits_and_the_largest_rate_underfits(r, ctx):
    outputs = _by_rate(r["models_outputs"], ctx, "models")
    best = float(number(r["best_rate"], "best_rate"))
    largest = max(ctx.params["L2_RATES"])
    assert best in outputs, f"expected best_rate among the keys of models, got {best:g}"
    mse = {
        rate: _mse(_outputs(outputs[rate], ctx, f"the outputs of models[{rate:g}]"), ctx) for rate in (best, largest)
    }
    assert mse[best] < 1e-2, (
        f"expected the chosen network to fit fresh measurements (MSE < 0.01 cm²), got {mse[best]:.2e}"
    )
    assert mse[largest] > 1.5 * mse[best], (
        f"expected λ = {largest:g} to underfit: MSE {mse[largest]:.2e} cm² on fresh measurements, not 1.5 × that of "
        f"the chosen network ({mse[best]:.2e} cm²)"
    )


# ---------------------------------------------------------------------------------------------------- task 4
@exercise.check(task="4", points=1)
def interpolation_is_the_models_and_close(r, ctx):
    t_max = ctx.params["T_MAX"]
    t = array(r["t_inside"], (N_INSIDE,), "t_inside")
    assert np.isclose(t.min(), 0) and np.isclose(t.max(), t_max), f"expected t_inside: {N_INSIDE} times from 0 to 10 s"
    x = array(r["x_inside"], (N_INSIDE,), "x_inside")
    pred = array(r["model_at_t_inside"], (N_INSIDE, 1), "the model's prediction at t_inside")[:, 0]
    assert np.allclose(x, pred, atol=1e-5), "expected x_inside = the chosen model's predictions at t_inside"
    rms = np.sqrt(np.mean((pred - oscillator(t.astype("float32"))) ** 2))
    got = number(r["rms_inside"], "rms_inside")
    assert np.isclose(got, rms, rtol=1e-4), (
        f"expected rms_inside = RMS of x_inside − oscillator(t_inside), got {got:.4f}"
    )
    fresh = _rms(_outputs(r["model_outputs"], ctx, "the chosen model's outputs"), ctx, "inside")
    assert fresh < 0.1, (
        f"expected an RMS deviation below 0.1 cm at {N_INSIDE} fresh times in [0, 10] s, got {fresh:.3f}"
    )


# ---------------------------------------------------------------------------------------------------- task 5
@exercise.check(task="5", points=1)
def extrapolation_is_the_models(r, ctx):
    p = ctx.params
    t = array(r["t_outside"], (N_OUTSIDE,), "t_outside")
    assert t.min() > p["T_MAX"] and np.isclose(t.max(), p["T_FUTURE"]), (
        f"expected t_outside: {N_OUTSIDE} times in (10, 15] s, the last at 15 s"
    )
    x = array(r["x_outside"], (N_OUTSIDE,), "x_outside")
    pred = array(r["model_at_t_outside"], (N_OUTSIDE, 1), "the model's prediction at t_outside")[:, 0]
    assert np.allclose(x, pred, atol=1e-5), "expected x_outside = the chosen model's predictions at t_outside"
    rms = np.sqrt(np.mean((pred - oscillator(t.astype("float32"))) ** 2))
    got = number(r["rms_outside"], "rms_outside")
    assert np.isclose(got, rms, rtol=1e-4), (
        f"expected rms_outside = RMS of x_outside − oscillator(t_outside), got {got:.4f}"
    )


@exercise.check(task="5", points=1)
def extrapolation_fails(r, ctx):
    out = _outputs(r["model_outputs"], ctx, "the chosen model's outputs")
    inside, outside = _rms(out, ctx, "inside"), _rms(out, ctx, "outside")
    signal = float(np.sqrt(np.mean(oscillator(_times(ctx, "outside")) ** 2)))
    assert outside > signal and outside > 3 * inside, (
        f"expected the extrapolation to fail at {N_OUTSIDE} fresh times in (10, 15] s: RMS {outside:.3f} cm against "
        f"{inside:.3f} inside and {signal:.3f} for the signal itself"
    )
