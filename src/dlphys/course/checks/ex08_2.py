"""Trusted checks of Exercise 8.2 — air-shower energy with convolutions on a hexagonal grid (10 points).

The judge loads its own copy of the showers (the cached data set, the notebook's split), prepares every network
input itself with ``airshower.network_input`` and runs the classical reconstruction of the test showers itself.
The three networks come back saved and are run by the judge in a clean sandbox without the student's code
(:mod:`dlphys.course.models`) on the judge's copy of the test showers (their outputs must match what the student
reports), on the test showers turned by 60° (the rotation test of task 5), and on fresh showers simulated with
the grader's seed (the error against a constant guess, the invariance of the p6 network, and ``predict``).
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import airshower
from dlphys.reco import airshower as reco

N_FRESH = 1000
N_TURN = 300  # fresh showers that predict() gets turned by 120° and back
NETWORKS = {  # name -> (variable, layout of its input)
    "plain CNN": ("model_cnn", "offset"),
    "hexagonal CNN": ("model_hexcnn", "axial"),
    "p6 network": ("model_hex", "axial"),
}
CLASSICAL = "classical S(1000) fit"
CONV_FILTERS = "[layer.filters for layer in {}.layers if isinstance(layer, keras.layers.Conv2D)]"
CORNERS = (
    "[float(np.abs(keras.ops.convert_to_numpy(layer.kernel)[[0, 2], [0, 2]]).max()) for layer in model_hexcnn.layers "
    "if isinstance(layer, keras.layers.Conv2D)]"
)

exercise = Exercise(
    "08_2_airshower_energy_cnn",
    # the trained networks, saved, and run by the judge in a clean sandbox on its own inputs
    models={**{model: model for model, _ in NETWORKS.values()}, "model": "model"},
    runs={
        **{
            f"{model}_{data}": (model, f"{data}/{layout}")
            for model, layout in NETWORKS.values()
            for data in ("test", "fresh", "original", "turned")
        },
        "hex_turned_original": ("model_hex", "fresh_axial_original"),
        "hex_turned_turned": ("model_hex", "fresh_axial_turned"),
        "model_fresh": ("model", "fresh/axial"),
    },
    collect={
        # task 1
        "x_train_cnn_rows": "x_train_cnn[::16]",
        "x_train_cnn_shape": "x_train_cnn.shape",
        "x_test_cnn": "x_test_cnn",
        "y_train": "y_train",
        "y_test": "y_test",
        "cnn_filters": CONV_FILTERS.format("model_cnn"),
        "train_time": "train_time",
        # task 2
        "x_train_rows": "x_train[::16]",
        "x_train_shape": "x_train.shape",
        "x_test": "x_test",
        "hexcnn_filters": CONV_FILTERS.format("model_hexcnn"),
        "hexcnn_corners": CORNERS,
        # task 3
        "hex_layers": "[type(layer).__name__ for layer in model_hex.layers]",
        "hex_filters": "[getattr(layer, 'filters', 0) for layer in model_hex.layers]",
        "count_params": "{'plain CNN': model_cnn.count_params(), 'hexagonal CNN': model_hexcnn.count_params(), "
        "'p6 network': model_hex.count_params()}",
        # task 4
        "log_e_pred": "log_e_pred",
        "results": "results",
        "n_params": "n_params",
        # task 5
        "rotation_change": "rotation_change",
        "predict_fresh": "predict(inputs['fresh_events'])",
        "predict_turned": "{'turned': predict(inputs['turn_events']), 'back': predict(inputs['back_events'])}",
    },
)


def _shown(events):
    """What predict() may look at: the events as simulate returns them, without the true energy."""
    return {key: events[key] for key in ("signal", "time", "triggered", "axis", "core")}


def _layouts(events):
    return {layout: airshower.network_input(events, layout=layout) for layout in ("offset", "axial")}


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    events = airshower.load(fast=ctx.fast)
    n = len(events["logE"])
    train = {key: value[: p["N_TRAIN"]] for key, value in events.items()}
    test = {key: value[n - p["TEST_SIZE"] :] for key, value in events.items()}
    turned = airshower.rotate(test, 1)
    original = airshower.rotate(turned, -1)
    new = airshower.simulate(N_FRESH, seed=ctx.seed)
    new_turned = airshower.rotate(new, 1)
    few = {key: value[:N_TURN] for key, value in new.items()}
    turn = airshower.rotate(few, 2)
    classical = reco.reconstruct(test, progress=False)
    sent = {
        "test": _layouts(test),
        "original": _layouts(original),
        "turned": _layouts(turned),
        "fresh": _layouts(new),
        "fresh_axial_original": airshower.network_input(airshower.rotate(new_turned, -1), layout="axial"),
        "fresh_axial_turned": airshower.network_input(new_turned, layout="axial"),
        "fresh_events": _shown(new),
        "turn_events": _shown(turn),
        "back_events": _shown(airshower.rotate(turn, -2)),
    }
    kept = {
        "n_train": p["N_TRAIN"],
        "train_rows": _layouts({key: train[key][::16] for key in ("signal", "time", "triggered")}),
        "y_train": train["logE"],
        "y_test": test["logE"],
        "y_fresh": new["logE"],
        "classical": reco.energy_resolution(test["logE"], classical["logE"], edges=p["E_BINS"], ok=classical["ok"]),
    }
    return sent, kept


def _output(r, name, n):
    out = array(r[name], name=f"the output of {name.rsplit('_', 1)[0]}")
    assert out.shape == (n, 1), (
        f"expected {name.rsplit('_', 1)[0]}: inputs (n, rows, cols, 2) -> log10(E/eV) (n, 1), got shape {out.shape}"
    )
    return out[:, 0]


def _test_output(r, ctx, network):
    return _output(r, f"{NETWORKS[network][0]}_test", len(ctx.kept["y_test"]))


def _beats_a_constant_guess(r, ctx, network):
    y = ctx.kept["y_fresh"]
    pred = _output(r, f"{NETWORKS[network][0]}_fresh", len(y))
    ratio = np.mean((pred - y) ** 2) / np.var(y)
    assert ratio < 0.5, (
        f"expected the {network}'s MSE of log10 E on fresh showers below half their variance, got {ratio:.2f} × "
        "the variance"
    )


def _inputs_match(r, ctx, test_name, train_name, layout, call):
    want_test = ctx.sent["test"][layout]
    x_test = np.asarray(r[test_name])
    assert x_test.shape == want_test.shape, f"expected {test_name} of shape {want_test.shape}, got {x_test.shape}"
    assert np.allclose(x_test, want_test, atol=1e-5), f"expected {test_name} = {call} of test_events"
    shape = tuple(int(s) for s in np.ravel(array(r[f"{train_name}_shape"], name=f"{train_name}.shape")))
    want_shape = (ctx.kept["n_train"], *want_test.shape[1:])
    assert shape == want_shape, f"expected {train_name} of shape {want_shape}, got {shape}"
    rows, want_rows = np.asarray(r[f"{train_name}_rows"]), ctx.kept["train_rows"][layout]
    assert rows.shape == want_rows.shape and np.allclose(rows, want_rows, atol=1e-5), (
        f"expected {train_name} = {call} of train_events"
    )


def _train_time(r, network):
    times = r["train_time"]
    assert isinstance(times, dict) and network in times, f"expected train_time[{network!r}]"
    assert number(times[network], f"train_time[{network!r}]") > 0, f"expected train_time[{network!r}] in seconds"


# ------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def offset_inputs_and_targets(r, ctx):
    _inputs_match(r, ctx, "x_test_cnn", "x_train_cnn", "offset", "airshower.network_input")
    for name in ("y_train", "y_test"):
        want = ctx.kept[name]
        got = array(r[name], name=name)
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-5), f"expected {name} = log10(E/eV)"


@exercise.check(task="1", points=1)
def plain_cnn_beats_a_constant_guess(r, ctx):
    filters = np.ravel(array(r["cnn_filters"], name="the filters of model_cnn"))
    assert len(filters) == 4 and np.all(filters == 32), "expected four Conv2D layers of 32 filters in model_cnn"
    _train_time(r, "plain CNN")
    _beats_a_constant_guess(r, ctx, "plain CNN")


# ------------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def axial_inputs(r, ctx):
    _inputs_match(r, ctx, "x_test", "x_train", "axial", "airshower.network_input(..., layout='axial')")


@exercise.check(task="2", points=1)
def hexagonal_cnn_beats_a_constant_guess(r, ctx):
    filters = np.ravel(array(r["hexcnn_filters"], name="the filters of model_hexcnn"))
    assert len(filters) == 4 and np.all(filters == 32), "expected four Conv2D layers of 32 filters in model_hexcnn"
    corners = np.ravel(array(r["hexcnn_corners"], name="the kernel cells (0, 0) and (2, 2)"))
    assert len(corners) == 4 and np.all(corners == 0), (
        "expected hexagonal kernels: cells (0, 0) and (2, 2) zero (kernel_constraint=HexagonalKernel())"
    )
    _train_time(r, "hexagonal CNN")
    _beats_a_constant_guess(r, ctx, "hexagonal CNN")


# ------------------------------------------------------------------------------------------------- task 3
@exercise.check(task="3", points=1)
def p6_network_layers(r, ctx):
    layers, filters = r["hex_layers"], np.ravel(array(r["hex_filters"], name="the filters of model_hex"))
    assert isinstance(layers, list) and len(layers) == len(filters), "expected the layers of model_hex"
    hexconv = [f for name, f in zip(layers, filters, strict=True) if name == "HexConv2D"]
    group = [f for name, f in zip(layers, filters, strict=True) if name == "GroupHexConv2D"]
    assert len(hexconv) == 1 and len(group) == 3, (
        f"expected one HexConv2D and three GroupHexConv2D layers, got {len(hexconv)} and {len(group)}"
    )
    assert all(f == 6 for f in hexconv + group), "expected 6 filters in each HexConv2D and GroupHexConv2D layer"
    count = r["count_params"]
    assert number(count["p6 network"]) < number(count["plain CNN"]), "expected fewer parameters than the plain CNN"
    _train_time(r, "p6 network")


@exercise.check(task="3", points=1)
def p6_network_is_invariant_and_learns(r, ctx):
    pair = {"original": r["hex_turned_original"], "turned": r["hex_turned_turned"]}
    n = len(ctx.kept["y_fresh"])
    before = array(pair["original"], (n, 1), "the p6 network's output")
    after = array(pair["turned"], (n, 1), "the p6 network's output")
    change = np.abs(after - before).max()
    assert change < 1e-4, (
        f"expected the p6 network to give the same energy for fresh showers turned by 60°, got changes up to "
        f"{change:.2g} in log10 E"
    )
    _beats_a_constant_guess(r, ctx, "p6 network")


# ------------------------------------------------------------------------------------------------- task 4
@exercise.check(task="4", points=1)
def predictions_results_and_parameters(r, ctx):
    y = ctx.kept["y_test"]
    log_e_pred, results, n_params, count = r["log_e_pred"], r["results"], r["n_params"], r["count_params"]
    for name, what in ((log_e_pred, "log_e_pred"), (results, "results"), (n_params, "n_params")):
        assert isinstance(name, dict) and set(NETWORKS) <= set(name), f"expected {what} with the keys {list(NETWORKS)}"
    for network in NETWORKS:
        pred = _test_output(r, ctx, network)
        got = array(log_e_pred[network], name=f"log_e_pred[{network!r}]")
        assert got.shape == y.shape and np.allclose(got, pred, atol=1e-4), (
            f"expected log_e_pred[{network!r}] = the network's predictions for the test showers"
        )
        want = reco.energy_resolution(y, pred, edges=ctx.params["E_BINS"])
        row = results[network]
        assert isinstance(row, dict) and {"resolution_all", "bias_all"} <= set(row), (
            f"expected results[{network!r}] = reco.energy_resolution(y_test, ..., edges=E_BINS)"
        )
        assert np.isclose(number(row["resolution_all"]), want["resolution_all"], rtol=1e-3) and np.isclose(
            number(row["bias_all"]), want["bias_all"], rtol=1e-3, atol=1e-5
        ), f"expected results[{network!r}] = reco.energy_resolution(y_test, log_e_pred[{network!r}], edges=E_BINS)"
        assert number(n_params[network]) == number(count[network]), f"expected n_params[{network!r}] = count_params()"


@exercise.check(task="4", points=1)
def resolutions_against_the_classical_fit(r, ctx):
    results = r["results"]
    assert isinstance(results, dict) and CLASSICAL in results, f"expected results[{CLASSICAL!r}]"
    row, want = results[CLASSICAL], ctx.kept["classical"]
    assert isinstance(row, dict) and "resolution_all" in row, f"expected results[{CLASSICAL!r}] of energy_resolution"
    assert np.isclose(number(row["resolution_all"]), want["resolution_all"], rtol=1e-3), (
        f"expected results[{CLASSICAL!r}] = reco.energy_resolution(y_test, classical_reco['logE'], edges=E_BINS, "
        "ok=classical_reco['ok'])"
    )
    for network in NETWORKS:
        got = reco.energy_resolution(ctx.kept["y_test"], _test_output(r, ctx, network), edges=ctx.params["E_BINS"])
        assert got["resolution_all"] < 0.7 and abs(got["bias_all"]) < 0.2, (
            f"{network}: expected a resolution below 70 % and a bias within ±20 % on the test showers, got "
            f"{100 * got['resolution_all']:.0f} % and {100 * got['bias_all']:+.0f} %"
        )


# ------------------------------------------------------------------------------------------------- task 5
@exercise.check(task="5", points=1)
def rotation_test(r, ctx):
    changes = r["rotation_change"]
    assert isinstance(changes, dict) and set(NETWORKS) <= set(changes), (
        f"expected rotation_change with the keys {list(NETWORKS)}"
    )
    n = len(ctx.kept["y_test"])
    rms, largest = {}, {}
    for network, (model, _) in NETWORKS.items():
        before = _output(r, f"{model}_original", n).astype(float)
        after = _output(r, f"{model}_turned", n).astype(float)
        want = 10.0 ** (after - before) - 1.0
        got = array(changes[network], name=f"rotation_change[{network!r}]")
        assert got.shape == (n,) and np.allclose(got, want, atol=1e-4), (
            f"expected rotation_change[{network!r}] = E(turned) / E(original) − 1 per test shower"
        )
        rms[network] = np.sqrt(np.mean(want**2))
        largest[network] = np.abs(want).max()
    assert largest["p6 network"] < 1e-4, (
        f"expected the p6 network to be invariant (change < 1e-4), got {largest['p6 network']:.2g}"
    )
    for network in ("plain CNN", "hexagonal CNN"):
        assert rms[network] > 1e-3 and rms[network] > 100 * rms["p6 network"], (
            f"expected the {network} to change its energy when the showers are turned, got an rms change of "
            f"{rms[network]:.2g}"
        )


# ------------------------------------------------------------------------------------------------- task 6
@exercise.check(task="6", points=1)
def predict_on_fresh_showers(r, ctx):
    y = ctx.kept["y_fresh"]
    got = array(r["predict_fresh"], name="predict(events)")
    assert got.shape == y.shape, f"expected predict(events) of shape ({len(y)},), got {got.shape}"
    # the units, by the median: one poorly reconstructed shower of a fast-mode network may lie outside any range
    assert 17.5 < np.median(got) < 21.0, "expected predict to return log10(E/eV)"
    hex_fresh = _output(r, "model_hex_fresh", len(y))
    assert np.allclose(_output(r, "model_fresh", len(y)), hex_fresh, atol=1e-5), "expected model = model_hex"
    assert np.allclose(got, hex_fresh, atol=1e-4), "expected predict(events) = the p6 network on the axial inputs"
    test = reco.energy_resolution(ctx.kept["y_test"], _test_output(r, ctx, "p6 network"))["resolution_all"]
    new = reco.energy_resolution(y, got)["resolution_all"]
    assert new < max(1.3 * test, test + 0.05), (
        f"expected the resolution on fresh showers close to that on the test showers, got {100 * new:.1f} % "
        f"against {100 * test:.1f} %"
    )
    pair = r["predict_turned"]
    assert isinstance(pair, dict) and {"turned", "back"} <= set(pair), "expected predict to take turned showers"
    turned = array(pair["turned"], (N_TURN,), "predict(turned showers)")
    back = array(pair["back"], (N_TURN,), "predict(showers turned back)")
    assert np.allclose(turned, back, atol=1e-5), "expected predict to be invariant under turns by 120°"
