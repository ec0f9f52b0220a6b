"""Trusted checks of Exercise 9.2 — air-shower pulses in noisy radio traces, LSTM and Conv1D + GRU (10 points).

The judge loads its own copy of the test traces (the last ``N_TEST`` of ``radio.load()``) and has both networks
applied to them, so the accuracies, scores, AUCs and efficiencies the notebook reports are recomputed from the
networks' outputs and the judge's labels and SNRs. It has its own envelope statistic (SciPy) for the classical
trigger, and ``predict`` and ``envelope_statistic`` are tested on traces simulated with the grader's seed. For the
calibration scan of task (5) the sandbox applies ``predict`` to the test traces times each factor of ``SCALES`` and
to fresh traces times factors drawn with the grader's seed, and calls the student's ``flip_fraction`` there: the
judge counts the flipped decisions and the accuracies itself from these outputs.
"""

import numpy as np
from scipy import signal
from sklearn.metrics import roc_auc_score

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import radio

SAMPLING_RATE = 180e6
CANDIDATE_BANDS = [(30e6, 80e6), (30e6, 55e6), (40e6, 80e6), (50e6, 80e6), (55e6, 80e6)]
SNR_BINS = np.geomspace(2, 20, 11)
METHODS = ("Conv1D + GRU", "LSTM", "envelope maximum")
N_SAMPLES = 500
N_FRESH = 2000
SCALES = np.array([0.9, 0.95, 0.98, 0.99, 1.0, 1.01, 1.02, 1.05, 1.1])  # the page's calibration factors

_LAYERS = (
    "[{'type': type(l).__name__, 'units': getattr(l, 'units', 0) or 0, 'filters': getattr(l, 'filters', 0) or 0, "
    "'kernel_size': list(getattr(l, 'kernel_size', None) or []), "
    "'target_shape': list(getattr(l, 'target_shape', None) or [])} for l in MODEL.layers]"
)

exercise = Exercise(
    "09_2_radio_rnn",
    models={"model_rnn": "model_rnn", "model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "p_rnn_test": ("model_rnn", "x_test"),
        "p_test": ("model", "x_test"),
        "model_fresh": ("model", lambda r, ctx: ctx.sent["traces"][:100]),
    },
    collect={
        # the classical trigger
        "stat_fresh": "envelope_statistic(inputs['traces'][:200], tuple(float(f) for f in inputs['band']))",
        "auc_band": "[[float(b[0]), float(b[1]), float(a)] for b, a in auc_band.items()]",
        "band": "[float(f) for f in band]",
        "score_baseline": "score_baseline",
        # (1) the LSTM
        "rnn_layers": _LAYERS.replace("MODEL", "model_rnn"),
        "history_rnn": "history_rnn",
        "seconds_rnn": "seconds_rnn",
        "accuracy_rnn": "accuracy_rnn",
        # (2) Conv1D + GRU
        "layers": _LAYERS.replace("MODEL", "model"),
        "history": "history",
        "seconds_conv": "seconds_conv",
        "accuracy": "accuracy",
        # (3) scores, AUCs and predict
        "score": "score",
        "score_rnn": "score_rnn",
        "auc": "auc",
        "auc_rnn": "auc_rnn",
        "predict_fresh": "predict(inputs['traces'])",
        # (4) efficiency per SNR bin
        "efficiency": "efficiency",
        # (5) calibration factors; one expression per factor, each within the time limit of one expression
        "flips": "flips",
        "accuracy_scaled": "accuracy_scaled",
        **{f"p_scaled_{k}": f"predict(inputs['x_test'] * float(inputs['scales'][{k}]))" for k in range(len(SCALES))},
        "flip_fresh": "[flip_fraction(inputs['traces'], float(s)) for s in inputs['fresh_scales']]",
        "p_fresh_scaled": "[predict(inputs['traces'] * float(s)) for s in inputs['fresh_scales']]",
    },
)


def _envelope(traces, band):
    sos = signal.butter(4, band, btype="bandpass", fs=SAMPLING_RATE, output="sos")
    filtered = signal.sosfiltfilt(sos, np.asarray(traces, dtype=np.float64), axis=-1)
    return np.abs(signal.hilbert(filtered, axis=-1)).max(axis=-1)


def _efficiency(score, y, snr):
    pulse = y == 1
    which = np.digitize(snr[pulse], SNR_BINS) - 1
    passed = score[pulse] > np.quantile(score[y == 0], 0.99)
    return np.array([passed[which == k].mean() if np.any(which == k) else np.nan for k in range(len(SNR_BINS) - 1)])


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    data = radio.load(fast=ctx.fast)
    n_train, n_test = ctx.params["N_TRAIN"], ctx.params["N_TEST"]
    traces = radio.simulate(N_FRESH, seed=int(rng.integers(2**62)))
    band = np.array([rng.uniform(30e6, 45e6), rng.uniform(60e6, 80e6)])
    near = 1 + rng.choice([-1, 1]) * 0.01  # a 1 % calibration change, up or down
    fresh_scales = np.array([near, rng.uniform(0.9, 1.1), rng.uniform(0.7, 0.8), rng.uniform(1.25, 1.4)])
    sent = {
        "x_test": data["traces"][-n_test:],
        "traces": traces["traces"],
        "band": band,
        "scales": SCALES,
        "fresh_scales": fresh_scales,
    }
    kept = {
        "y_test": data["label"][-n_test:].astype(int),
        "snr_test": data["snr"][-n_test:],
        "x_train": data["traces"][:n_train],
        "y_train": data["label"][:n_train].astype(int),
        "label_fresh": traces["label"],
    }
    return sent, kept


def _layers(r, name):
    layers = r[name]
    assert isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers), f"expected {name} as layers"
    return [
        {
            "type": str(layer["type"]),
            "units": int(number(layer["units"])),
            "filters": int(number(layer["filters"])),
            "kernel_size": [int(v) for v in np.ravel(layer["kernel_size"])],
            "target_shape": [int(v) for v in np.ravel(layer["target_shape"])],
        }
        for layer in layers
    ]


def _history(r, name, epochs):
    history = r[name]
    assert isinstance(history, dict) and "val_loss" in history and "loss" in history, (
        f"expected {name}, the History of fit with a validation split (val_loss)"
    )
    n = len(np.ravel(array(history["loss"], name=f"{name}['loss']")))
    assert n == epochs, f"expected {name} of EPOCHS = {epochs} epochs, got {n}"


def _probabilities(r, name, n):
    p = array(r[name], name=f"the output for {n} traces")
    assert p.shape in ((n, 1), (n,)), f"expected the network to map traces (n, 500) to P(pulse) (n, 1), got {p.shape}"
    return p.reshape(-1)


@exercise.check(task="1", points=1)
def lstm_is_built_and_trained_as_asked(r, ctx):
    layers = _layers(r, "rnn_layers")
    steps = [N_SAMPLES // ctx.params["FRAME"], ctx.params["FRAME"]]
    assert any(layer["type"] == "Reshape" and layer["target_shape"] == steps for layer in layers), (
        f"expected the trace cut into {steps[0]} steps of FRAME = {steps[1]} samples (Reshape)"
    )
    lstm = [layer["units"] for layer in layers if layer["type"] == "LSTM"]
    assert lstm == [32], f"expected one LSTM layer of 32 cells, got LSTM units {lstm}"
    _probabilities(r, "p_rnn_test", len(ctx.kept["y_test"]))
    _history(r, "history_rnn", ctx.params["EPOCHS"])
    assert number(r["seconds_rnn"], "seconds_rnn") > 0, "expected seconds_rnn, the training time per epoch in s, > 0"


@exercise.check(task="1", points=1)
def lstm_test_accuracy_is_recomputed(r, ctx):
    y = ctx.kept["y_test"]
    acc = np.mean((_probabilities(r, "p_rnn_test", len(y)) > 0.5) == y)
    reported = number(r["accuracy_rnn"], "accuracy_rnn")
    assert abs(reported - acc) < 1e-3, (
        f"expected accuracy_rnn = the test accuracy of model_rnn at P > 0.5, got {reported:.4f}"
    )
    if not ctx.fast:
        assert acc > 0.65, f"expected the LSTM's test accuracy above 0.65 in full mode, got {acc:.3f}"


@exercise.check(task="2", points=1)
def conv_gru_is_built_and_trained_as_asked(r, ctx):
    layers = _layers(r, "layers")
    convs = [(layer["filters"], layer["kernel_size"][0]) for layer in layers if layer["type"] == "Conv1D"]
    assert convs == [(16, 9), (32, 5)], f"expected Conv1D(16, 9) and Conv1D(32, 5), got {convs}"
    gru = [layer["units"] for layer in layers if layer["type"] == "GRU"]
    assert gru == [32], f"expected one GRU layer of 32 cells, got GRU units {gru}"
    _probabilities(r, "p_test", len(ctx.kept["y_test"]))
    _history(r, "history", ctx.params["EPOCHS"])
    assert number(r["seconds_conv"], "seconds_conv") > 0, "expected seconds_conv, the training time per epoch in s, > 0"


@exercise.check(task="2", points=1)
def conv_gru_test_accuracy_above_065(r, ctx):
    y = ctx.kept["y_test"]
    acc = np.mean((_probabilities(r, "p_test", len(y)) > 0.5) == y)
    reported = number(r["accuracy"], "accuracy")
    assert abs(reported - acc) < 1e-3, f"expected accuracy = the test accuracy of model at P > 0.5, got {reported:.4f}"
    assert acc > 0.65, f"expected the Conv1D + GRU test accuracy above 0.65, got {acc:.3f}"


@exercise.check(task="3", points=1)
def classical_trigger_is_the_envelope_maximum(r, ctx):
    traces, band = ctx.sent["traces"][:200], tuple(ctx.sent["band"])
    stat = array(r["stat_fresh"], (200,), "envelope_statistic(traces, band) for 200 traces")
    assert np.allclose(stat, _envelope(traces, band), rtol=1e-4, atol=1e-6), (
        "expected envelope_statistic = max of the Hilbert envelope after a 4th-order Butterworth band-pass "
        "(sosfiltfilt) on fresh traces"
    )
    table = array(r["auc_band"], (len(CANDIDATE_BANDS), 3), "auc_band (one AUC per candidate band)")
    got = {(row[0], row[1]): row[2] for row in table}
    assert set(got) == set(CANDIDATE_BANDS), "expected auc_band for every band in CANDIDATE_BANDS"
    x_train, y_train = ctx.kept["x_train"], ctx.kept["y_train"]
    for b in CANDIDATE_BANDS:
        assert abs(got[b] - roc_auc_score(y_train, _envelope(x_train, b))) < 1e-3, (
            f"expected auc_band[{b}] = AUC of the statistic on the training traces, got {got[b]:.4f}"
        )
    chosen = tuple(array(r["band"], (2,), "band"))
    assert chosen in got and got[chosen] == max(got.values()), "expected band = the band with the largest AUC"
    x_test, y_test = ctx.sent["x_test"], ctx.kept["y_test"]
    score = array(r["score_baseline"], (len(y_test),), "score_baseline")
    assert np.allclose(score, _envelope(x_test, chosen), rtol=1e-4, atol=1e-6), (
        "expected score_baseline = envelope_statistic(x_test, band)"
    )
    auc = roc_auc_score(y_test, score)
    assert auc > 0.8, f"expected the envelope maximum to reach a test AUC above 0.8, got {auc:.3f}"


@exercise.check(task="3", points=1)
def scores_and_aucs_of_both_networks(r, ctx):
    y = ctx.kept["y_test"]
    for name, output, auc_name in (("score", "p_test", "auc"), ("score_rnn", "p_rnn_test", "auc_rnn")):
        reference = _probabilities(r, output, len(y))
        score = array(r[name], (len(y),), name)
        assert np.allclose(score, reference, atol=1e-4), f"expected {name} = P(pulse) of the network for x_test"
        reported = number(r[auc_name], auc_name)
        assert abs(reported - roc_auc_score(y, reference)) < 1e-4, (
            f"expected {auc_name} = roc_auc_score of {name}, got {reported:.4f}"
        )
    auc = roc_auc_score(y, _probabilities(r, "p_test", len(y)))
    assert auc > 0.7, f"expected an AUC above 0.7 for the Conv1D + GRU network, got {auc:.3f}"


@exercise.check(task="3", points=1)
def predict_separates_fresh_traces(r, ctx):
    p = array(r["predict_fresh"], name="predict(traces)")
    assert p.shape == (N_FRESH,), f"expected predict to return P(pulse) of shape (n,), got {p.shape}"
    assert np.all((p >= 0) & (p <= 1)), "expected probabilities between 0 and 1"
    model = array(r["model_fresh"], name="model.predict(traces)").reshape(-1)
    assert model.shape == (100,) and np.allclose(p[:100], model, atol=1e-4), "expected predict = P(pulse) from model"
    auc = roc_auc_score(ctx.kept["label_fresh"], p)
    assert auc > 0.7, f"expected an AUC above 0.7 on {N_FRESH} fresh traces, got {auc:.3f}"
    if not ctx.fast:  # the page's full-mode bound (the last cell); fast mode checks the AUC above 0.7
        band = tuple(array(r["band"], (2,), "band"))
        baseline = roc_auc_score(ctx.kept["label_fresh"], _envelope(ctx.sent["traces"], band))
        assert auc > baseline, (
            f"expected an AUC above the envelope maximum's on fresh traces in full mode, got {auc:.3f}"
        )


@exercise.check(task="4", points=1)
def efficiency_per_snr_bin(r, ctx):
    efficiency = r["efficiency"]
    assert isinstance(efficiency, dict) and set(efficiency) == set(METHODS), (
        f"expected efficiency for the three methods {METHODS}"
    )
    y, snr = ctx.kept["y_test"], ctx.kept["snr_test"]
    outputs = {
        "score": _probabilities(r, "p_test", len(y)),
        "score_rnn": _probabilities(r, "p_rnn_test", len(y)),
        "score_baseline": _envelope(ctx.sent["x_test"], tuple(array(r["band"], (2,), "band"))),
    }
    for name, score in (("Conv1D + GRU", "score"), ("LSTM", "score_rnn"), ("envelope maximum", "score_baseline")):
        values = array(r[score], (len(y),), score)
        assert np.allclose(values, outputs[score], rtol=1e-4, atol=1e-4), (
            f"expected {score} = the test scores of {name} (as in task 3)"
        )
        reference = _efficiency(values, y, snr)
        got = np.asarray(efficiency[name], dtype=float)
        assert got.shape == reference.shape and np.allclose(got, reference, equal_nan=True), (
            f"expected efficiency[{name!r}] = fraction of pulses above the 1 % false-positive threshold per SNR bin"
        )


# ------------------------------------------------------------------------------------------------- task 5
def _decisions(value, n, what):
    """The decisions P(pulse) > 0.5 of ``predict``'s outputs ``value`` for ``n`` traces."""
    p = array(value, name=f"predict's output for {what}")
    assert p.shape[-1:] == (n,), f"expected predict to return P(pulse) of shape (n,) for {what}, got {p.shape}"
    return p > 0.5


@exercise.check(task="5", points=1)
def flip_fraction_counts_the_changed_decisions(r, ctx):
    n, scales = N_FRESH, ctx.sent["fresh_scales"]
    unchanged = _decisions(r["predict_fresh"], n, f"{n} fresh traces")
    scaled = _decisions(r["p_fresh_scaled"], n, f"{n} fresh traces times a factor")
    assert scaled.shape == (len(scales), n), f"expected predict's output for {len(scales)} factors, got {scaled.shape}"
    got = array(r["flip_fresh"], (len(scales),), "flip_fraction(traces, scale) for fresh traces")
    for scale, value, decided in zip(scales, got, scaled, strict=True):
        reference = np.mean(decided != unchanged)
        assert abs(value - reference) <= 1.5 / n, (
            f"expected flip_fraction(traces, scale) = the fraction of the traces whose decision P(pulse) > 0.5 "
            f"changes when they are multiplied by scale, for {n} fresh traces at scale {scale:.3f}; got {value:.4f}"
        )


@exercise.check(task="5", points=1)
def flips_and_accuracy_on_the_scaled_test_traces(r, ctx):
    y = ctx.kept["y_test"]
    n = len(y)
    decisions = [_decisions(r[f"p_scaled_{k}"], n, f"the test traces times {s}") for k, s in enumerate(SCALES)]
    unchanged = decisions[int(np.flatnonzero(SCALES == 1.0)[0])]
    flips = array(r["flips"], (len(SCALES),), "flips")
    accuracy = array(r["accuracy_scaled"], (len(SCALES),), "accuracy_scaled")
    for k, scale in enumerate(SCALES):
        flipped = np.mean(decisions[k] != unchanged)
        assert abs(flips[k] - flipped) <= 1.5 / n, (
            f"expected flips = the fraction of the test traces whose decision at each factor of SCALES differs from "
            f"that at 1.0; at {scale} got {flips[k]:.4f}"
        )
        right = np.mean(decisions[k] == y)
        assert abs(accuracy[k] - right) <= 1.5 / n, (
            f"expected accuracy_scaled = the test accuracy at P > 0.5 for the test traces times each factor of "
            f"SCALES; at {scale} got {accuracy[k]:.4f}"
        )
