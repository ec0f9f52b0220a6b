"""Trusted checks of Exercise 8.1 — magnetic phases with a convolutional network (10 points).

The judge loads its own copy of the Ising data set and repeats the notebook's split (``default_rng(SEED)``), so the
student's reported test figures are recomputed from the outputs of ``model`` and ``model_fcn`` on the judge's copy
of ``x_test``. The finite-size study is recomputed on the lattices the page prescribes (``seed=SEED + L``), and
``predict`` is tried on fresh 48 × 48 lattices simulated with the grader's seed.
"""

import numpy as np
from scipy import integrate

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import ising
from dlphys.reco.ising import (
    crossing_temperature,
    fit_magnetization_cut,
    magnetization_cut_predict,
    per_temperature,
    phase_labels,
)

FRESH_TEMPERATURES = [1.6, 2.0, 2.6, 3.0]  # at least 0.26 J/k_B from Tc: both phases clear on 48 × 48
N_FRESH = 50


def _x_test(r, ctx):
    return ctx.sent["x_test"].astype("float32")


exercise = Exercise(
    "08_1_ising_cnn",
    models={"model": "model", "model_fcn": "model_fcn"},  # saved, and run by the judge in a clean sandbox
    runs={
        "model_test": ("model", _x_test),
        "fcn_test": ("model_fcn", _x_test),
    },
    collect={
        "layers": "[type(layer).__name__ for layer in model.layers]",
        "history": "history",
        "test_accuracy": "test_accuracy",
        "p_test": "p_test",
        "cut": "cut",
        "temperatures": "temperatures",
        "accuracy_network": "accuracy_network",
        "accuracy_cut": "accuracy_cut",
        "P_ordered": "P_ordered",
        "P_error": "P_error",
        "T_cross": "T_cross",
        "fcn_layers": "[type(layer).__name__ for layer in model_fcn.layers]",
        "accuracy_fcn": "accuracy_fcn",
        "comparison": "comparison",
        "parameters": "{'CNN': model.count_params(), 'FCN': model_fcn.count_params()}",
        "fss": "fss",
        "T_cross_L": "T_cross_L",
        "predict_fresh": "predict(inputs['fresh'])",
        "predict_small": "predict(inputs['fresh'][:3, :16, :16])",
    },
)


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    spins, T = ising.load(fast=ctx.fast, progress=False)
    order = np.random.default_rng(p["SEED"]).permutation(len(T))  # the notebook's split (seed_everything)
    n_test, n_val = int(p["TEST_FRACTION"] * len(T)), int(p["VAL_FRACTION"] * len(T))
    test, train = order[:n_test], order[n_test + n_val :]
    sizes = {
        str(L): ising.simulate([1.5, 3.2], 3, size=L, seed=ctx.seed + L, progress=False)[0][..., None] for L in (16, 24)
    }
    fss, fss_T = {}, {}
    for L in p["SIZES"]:
        s, t = ising.simulate(p["FSS_TEMPERATURES"], p["N_FSS"], size=L, seed=p["SEED"] + L, progress=False)
        fss[str(L)], fss_T[str(L)] = s[..., None], t
    new, new_T = ising.simulate(FRESH_TEMPERATURES, N_FRESH, size=48, seed=ctx.seed, progress=False)
    sent = {"x_test": spins[test][..., None], "sizes": sizes, "fss": fss, "fresh": new}
    kept = {
        "x_test": spins[test],
        "y_test": phase_labels(T[test]),
        "T_test": T[test],
        "cut": fit_magnetization_cut(spins[train], phase_labels(T[train])),
        "fss_T": fss_T,
        "fresh_T": new_T,
    }
    return sent, kept


@exercise.model_inputs
def lattices_of_other_sizes(r, ctx):
    """The saved CNN on the grader's lattices of other sizes (task 1) and on those of the finite-size study (task 4)."""
    return {
        "model": {f"{kind}:{L}": x.astype("float32") for kind in ("sizes", "fss") for L, x in ctx.sent[kind].items()}
    }


def _on_sizes(r, ctx, kind):
    """{L: the saved CNN's output} on the sent lattices ``kind`` ("sizes" or "fss")."""
    outputs = r.model("model")["outputs"]
    return {L: outputs[f"{kind}:{L}"] for L in ctx.sent[kind] if f"{kind}:{L}" in outputs}


def _probabilities(value, n, what):
    out = array(value, name=what)
    assert out.shape == (n, 1), f"expected {what}: lattices (n, L, L, 1) -> P(ordered) (n, 1), got shape {out.shape}"
    return out[:, 0]


def _cnn_test(r, ctx):
    return _probabilities(r["model_test"], len(ctx.kept["y_test"]), "model")


def _fcn_test(r, ctx):
    return _probabilities(r["fcn_test"], len(ctx.kept["y_test"]), "model_fcn")


# ------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def global_average_pooling_and_any_lattice_size(r, ctx):
    layers = r["layers"]
    assert isinstance(layers, list) and "GlobalAveragePooling2D" in layers, (
        "expected a GlobalAveragePooling2D layer after the last convolution in model"
    )
    outputs = _on_sizes(r, ctx, "sizes")
    assert isinstance(outputs, dict) and sorted(outputs) == sorted(ctx.sent["sizes"]), (
        "expected model to take any L × L"
    )
    for L, x in ctx.sent["sizes"].items():
        _probabilities(outputs[L], len(x), f"model on {L} × {L} lattices")
    history = r["history"]
    assert isinstance(history, dict) and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history), (
        "expected history of a model compiled with metrics=['accuracy'] and trained with validation data"
    )
    n_epochs = len(np.ravel(array(history["loss"], name="history['loss']")))
    assert n_epochs <= ctx.params["EPOCHS"], f"expected at most EPOCHS = {ctx.params['EPOCHS']} epochs, got {n_epochs}"


@exercise.check(task="1", points=2)
def test_accuracy_of_the_cnn(r, ctx):
    accuracy = np.mean((_cnn_test(r, ctx) > 0.5) == ctx.kept["y_test"])
    assert abs(number(r["test_accuracy"], "test_accuracy") - accuracy) < 1e-3, (
        "expected test_accuracy = the fraction of x_test that model classifies correctly (output > 0.5: ordered)"
    )
    assert accuracy > 0.9, f"expected a test accuracy above 0.9, got {accuracy:.3f}"


# ------------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def accuracy_and_probability_per_temperature(r, ctx):
    kept = ctx.kept
    p, y, T = _cnn_test(r, ctx), kept["y_test"], kept["T_test"]
    p_test = array(r["p_test"], name="p_test")
    assert p_test.shape == p.shape and np.allclose(p_test, p, atol=1e-5), (
        f"expected p_test = the model's output on x_test, shape ({len(p)},)"
    )
    assert np.isclose(number(r["cut"], "cut"), kept["cut"]), "expected cut = fit_magnetization_cut(x_train, y_train)"
    temps = np.unique(T)
    got_temps = array(r["temperatures"], name="temperatures")
    assert got_temps.shape == temps.shape and np.allclose(got_temps, temps), (
        "expected temperatures = the sorted distinct temperatures of T_test"
    )
    at = [T == t for t in temps]
    called = magnetization_cut_predict(kept["x_test"], kept["cut"])
    want = {
        "accuracy_network": [np.mean((p[m] > 0.5) == y[m]) for m in at],
        "accuracy_cut": [np.mean(called[m] == y[m]) for m in at],
        "P_ordered": [p[m].mean() for m in at],
    }
    for name, values in want.items():
        got = array(r[name], name=name)
        assert got.shape == temps.shape and np.allclose(got, values, atol=1e-5), f"expected {name} per temperature"
    assert array(r["P_error"], name="P_error").shape == temps.shape, "expected P_error, one standard error per T"
    assert np.isclose(number(r["T_cross"], "T_cross"), crossing_temperature(T, p), atol=1e-4), (
        "expected T_cross = crossing_temperature(T_test, p_test)"
    )


@exercise.check(task="2", points=1)
def cnn_finds_the_transition(r, ctx):
    p, y, T = _cnn_test(r, ctx), ctx.kept["y_test"], ctx.kept["T_test"]
    temps, accuracy, _ = per_temperature(T, (p > 0.5) == y)
    far = accuracy[np.abs(temps - ising.TC) > 0.5].mean()
    assert far > 0.95, f"expected a test accuracy above 0.95 for |T − Tc| > 0.5 J/k_B, got {far:.3f}"
    t_cross = crossing_temperature(T, p)
    assert abs(t_cross - ising.TC) < 0.25, f"expected T_cross within 0.25 J/k_B of Tc, got {t_cross:.3f} J/k_B"


# ------------------------------------------------------------------------------------------------- task 3
@exercise.check(task="3", points=1)
def comparison_recomputed_from_both_models(r, ctx):
    y, T = ctx.kept["y_test"], ctx.kept["T_test"]
    layers = r["fcn_layers"]
    assert isinstance(layers, list) and not any("Conv" in name for name in layers), (
        "expected model_fcn fully connected (no convolution)"
    )
    pf = _fcn_test(r, ctx)
    temps = np.unique(T)
    got = array(r["accuracy_fcn"], name="accuracy_fcn")
    assert got.shape == temps.shape and np.allclose(got, [np.mean((pf[T == t] > 0.5) == y[T == t]) for t in temps]), (
        "expected accuracy_fcn = model_fcn's test accuracy at each temperature"
    )
    comparison, parameters = r["comparison"], r["parameters"]
    assert isinstance(comparison, dict) and {"FCN", "CNN"} <= set(comparison), (
        "expected comparison = {'FCN': {...}, 'CNN': {...}}"
    )
    near = np.abs(T - ising.TC) < 0.2
    for name, p in (("FCN", pf), ("CNN", _cnn_test(r, ctx))):
        row = comparison[name]
        assert isinstance(row, dict), f"expected comparison[{name!r}] to be a dict"
        keys = ("parameters", "test accuracy", "accuracy near Tc", "T_cross")
        assert set(keys) <= set(row), f"expected comparison[{name!r}] with the keys {keys}"
        assert number(row["parameters"]) == number(parameters[name]), (
            f"expected comparison[{name!r}]['parameters'] = its count_params()"
        )
        correct = (p > 0.5) == y
        assert np.isclose(number(row["test accuracy"]), correct.mean()), (
            f"expected comparison[{name!r}]['test accuracy']"
        )
        assert np.isclose(number(row["accuracy near Tc"]), correct[near].mean()), (
            f"expected comparison[{name!r}]['accuracy near Tc'] over |T − Tc| < 0.2 J/k_B"
        )
        assert np.isclose(number(row["T_cross"]), crossing_temperature(T, p), atol=1e-4), (
            f"expected comparison[{name!r}]['T_cross']"
        )


@exercise.check(task="3", points=1)
def fully_connected_network_works(r, ctx):
    y, T = ctx.kept["y_test"], ctx.kept["T_test"]
    pf = _fcn_test(r, ctx)
    accuracy = np.mean((pf > 0.5) == y)
    assert accuracy > 0.85, f"expected a test accuracy above 0.85 for model_fcn, got {accuracy:.3f}"
    t_cross = crossing_temperature(T, pf)
    assert abs(t_cross - ising.TC) < 0.25, f"expected model_fcn's T_cross within 0.25 J/k_B of Tc, got {t_cross:.3f}"


# ------------------------------------------------------------------------------------------------- task 4
def _fss_reference(r, ctx):
    outputs = _on_sizes(r, ctx, "fss")
    assert isinstance(outputs, dict), "expected model to take the lattices of every size in SIZES"
    out = {}
    for L, T in ctx.kept["fss_T"].items():
        p = _probabilities(outputs.get(L), len(T), f"model on {L} × {L} lattices")
        out[L] = (*per_temperature(T, p), crossing_temperature(T, p))
    return out


@exercise.check(task="4", points=1)
def finite_size_curves_recomputed(r, ctx):
    fss, t_cross = r["fss"], r["T_cross_L"]
    sizes = sorted(str(L) for L in ctx.params["SIZES"])
    assert isinstance(fss, dict) and isinstance(t_cross, dict), "expected fss and T_cross_L as dicts L -> ..."
    assert sorted(fss) == sorted(t_cross) == sizes, f"expected fss and T_cross_L with the keys {ctx.params['SIZES']}"
    for L, (temps, mean, _, crossing) in _fss_reference(r, ctx).items():
        got = array(fss[L], name=f"fss[{L}]")
        assert got.shape == (3, len(temps)), f"expected fss[{L}] = (temperatures, mean, standard error)"
        assert np.allclose(got[0], temps) and np.allclose(got[1], mean, atol=1e-4), (
            f"expected fss[{L}] = per_temperature of the CNN output on the simulated {L} × {L} lattices"
        )
        assert np.isclose(number(t_cross[L], f"T_cross_L[{L}]"), crossing, atol=1e-3), (
            f"expected T_cross_L[{L}] where that mean crosses 1/2"
        )


@exercise.check(task="4", points=1)
def transition_sharpens_with_the_lattice_size(r, ctx):
    reference = _fss_reference(r, ctx)
    width = {L: integrate.trapezoid(mean * (1 - mean), temps) for L, (temps, mean, _, _) in reference.items()}
    assert width["64"] < 0.8 * width["16"], (
        f"expected a sharper transition for L = 64 than for L = 16, got widths {width['64']:.3f} and "
        f"{width['16']:.3f} J/k_B"
    )
    crossings = {L: round(ref[3], 3) for L, ref in reference.items()}
    assert all(abs(t - ising.TC) < 0.25 for t in crossings.values()), (
        f"expected every T_cross_L within 0.25 J/k_B of Tc, got {crossings}"
    )


# ------------------------------------------------------------------------------------------------- task 5
@exercise.check(task="5", points=1)
def predict_on_fresh_lattices(r, ctx):
    spins, T = ctx.sent["fresh"], ctx.kept["fresh_T"]
    p = array(r["predict_fresh"], name="predict(spins)")
    assert p.shape == T.shape, f"expected predict(spins) of shape ({len(T)},), got {p.shape}"
    assert np.all((p >= 0) & (p <= 1)), "expected probabilities between 0 and 1"
    assert array(r["predict_small"], name="predict on 16 × 16 lattices").shape == (3,), (
        "expected predict to take lattices of any size"
    )
    labels = phase_labels(T)
    accuracy = np.mean((p > 0.5) == labels)
    by_cut = np.mean(magnetization_cut_predict(spins, ctx.kept["cut"]) == labels)
    assert accuracy > 0.9, f"expected an accuracy above 0.9 on fresh 48 × 48 lattices, got {accuracy:.3f}"
    assert accuracy >= by_cut - 0.05, (
        f"expected predict about as good as the |m| cut on fresh lattices, got {accuracy:.3f} against {by_cut:.3f}"
    )
