"""Trusted checks of Exercise 7.1 — Ising phases with a fully connected network (10 points).

The judge simulates fresh lattices with the grader's seed (``ising.simulate``: 50 at each of the 21 temperatures of
the data set, and 50 at each of 1.6, 2.0, 2.6 and 3.0 J/k_B for ``predict``) and gets back the network's outputs on
them, on the same lattices flipped, and on its own copy of the notebook's test split (the cached data set and the
split of ``SEED``). Every accuracy, mean output and crossing temperature the notebook reports is recomputed from
those outputs; the cut on |m| is refitted on the judge's copy of the training lattices. The bounds of the page are
applied to the fresh lattices.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import ising
from dlphys.reco.ising import (
    crossing_temperature,
    fit_magnetization_cut,
    magnetization_cut_predict,
    per_temperature,
    phase_labels,
)

N_FRESH = 50  # fresh lattices per temperature
PREDICT_TEMPERATURES = [1.6, 2.0, 2.6, 3.0]  # J/k_B, at least 0.3 from Tc: the temperatures of the page's test of (5)


def _out(x: str) -> str:
    return f"keras.ops.convert_to_numpy(model({x}))"


exercise = Exercise(
    "07_1_ising_fcn",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "test_outputs": ("model", "x_test"),
        "test_flipped_outputs": ("model", lambda r, ctx: -ctx.sent["x_test"]),
        "fresh_outputs": ("model", lambda r, ctx: ctx.sent["fresh"].astype("float32")),
        "fresh_flipped_outputs": ("model", lambda r, ctx: -ctx.sent["fresh"].astype("float32")),
        "model_spins": ("model", lambda r, ctx: ctx.sent["spins"].astype("float32")),
        "model_spins_flipped": ("model", lambda r, ctx: -ctx.sent["spins"].astype("float32")),
    },
    collect={
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
        "fraction_cut": "fraction_cut",
        "T_cross_cut": "T_cross_cut",
        "p_flipped": "p_flipped",
        "accuracy_flipped": "accuracy_flipped",
        "output_change": "output_change",
        "share_up": "share_up",
        "predict": "predict(inputs['spins'])",
        "predict_flipped": "predict(-inputs['spins'])",
    },
)


@exercise.inputs
def fresh(ctx):
    p, rng = ctx.params, ctx.rng
    spins, T = ising.load(fast=ctx.fast, progress=False)  # the notebook's data set and split
    labels = phase_labels(T)
    order = np.random.default_rng(p["SEED"]).permutation(len(T))
    n_test, n_val = int(p["TEST_FRACTION"] * len(T)), int(p["VAL_FRACTION"] * len(T))
    test, train = order[:n_test], order[n_test + n_val :]
    seeds = rng.integers(0, 2**63, size=2)
    fresh_spins, fresh_T = ising.simulate(ising.DEFAULT_TEMPERATURES, N_FRESH, seed=int(seeds[0]), progress=False)
    new_spins, new_T = ising.simulate(PREDICT_TEMPERATURES, N_FRESH, seed=int(seeds[1]), progress=False)
    sent = {"x_test": spins[test].astype("float32"), "fresh": fresh_spins, "spins": new_spins}
    kept = {
        "y_test": labels[test],
        "T_test": T[test],
        "cut": fit_magnetization_cut(spins[train].astype("float32"), labels[train]),
        "share_up": float(np.mean(ising.magnetization(spins[train])[labels[train] == 1] > 0)),
        "fresh_T": fresh_T,
        "new_T": new_T,
    }
    return sent, kept


def _outputs(r, ctx, name, n_key, what):
    n = len(ctx.sent[n_key])
    out = array(r[name], (n, 1), what)[:, 0]
    assert np.all((out >= 0) & (out <= 1)), f"expected probabilities between 0 and 1 from {what}"
    return out


def _test(r, ctx):
    return _outputs(r, ctx, "test_outputs", "x_test", "model: spins (n, 32, 32) -> P(ordered) (n, 1)")


def _fresh(r, ctx, flipped=False):
    name = "fresh_flipped_outputs" if flipped else "fresh_outputs"
    return _outputs(r, ctx, name, "fresh", "model on fresh lattices")


def _p_test(r, ctx):
    """The student's p_test, checked to be the model's output on the test lattices."""
    p_test = array(r["p_test"], name="p_test")
    assert p_test.shape == (len(ctx.kept["y_test"]),), (
        f"expected p_test of shape (n_test,) = ({len(ctx.kept['y_test'])},), got {p_test.shape}"
    )
    assert np.allclose(p_test, _test(r, ctx), atol=1e-5), "expected p_test = model output on x_test"
    return p_test


def _close(value, reference, name, what):
    got = array(value, name=name)
    ok = got.shape == np.shape(reference) and np.allclose(got, reference)
    assert ok, f"expected {name} = {what}"


# ---------------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def model_and_history(r, ctx):
    _test(r, ctx)
    history = r["history"]
    assert isinstance(history, dict) and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history), (
        "expected history of a model compiled with metrics=['accuracy'] and trained with validation data"
    )
    n = len(array(history["loss"], name="history['loss']"))
    assert n <= ctx.params["EPOCHS"], f"expected at most {ctx.params['EPOCHS']} epochs, got {n}"


@exercise.check(task="1", points=1)
def test_accuracy_is_the_models(r, ctx):
    accuracy = np.mean((_test(r, ctx) > 0.5) == ctx.kept["y_test"])
    got = number(r["test_accuracy"], "test_accuracy")
    assert abs(got - accuracy) < 1e-3, f"expected test_accuracy = accuracy of model on x_test, got {got:.4f}"


@exercise.check(task="1", points=1)
def network_classifies_fresh_lattices(r, ctx):
    accuracy = np.mean((_fresh(r, ctx) > 0.5) == phase_labels(ctx.kept["fresh_T"]))
    assert accuracy > 0.9, (
        f"expected an accuracy above 0.9 on {len(ctx.kept['fresh_T'])} fresh lattices at the 21 temperatures, "
        f"got {accuracy:.3f}"
    )


# ---------------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def accuracies_per_temperature(r, ctx):
    p_test = _p_test(r, ctx)
    y, T = ctx.kept["y_test"], ctx.kept["T_test"]
    cut = number(r["cut"], "cut")
    assert np.isclose(cut, ctx.kept["cut"]), "expected cut = fit_magnetization_cut(x_train, y_train)"
    temps = np.unique(T)
    _close(r["temperatures"], temps, "temperatures", "the sorted distinct temperatures of T_test")
    network = per_temperature(T, (p_test > 0.5) == y)[1]
    _close(r["accuracy_network"], network, "accuracy_network", "the fraction classified right at each temperature")
    by_cut = per_temperature(T, magnetization_cut_predict(ctx.sent["x_test"], cut) == y)[1]
    _close(r["accuracy_cut"], by_cut, "accuracy_cut", "the fraction the cut classifies right at each temperature")


@exercise.check(task="2", points=1)
def network_fails_only_near_tc(r, ctx):
    T = ctx.kept["fresh_T"]
    correct = (_fresh(r, ctx) > 0.5) == phase_labels(T)
    far, near = correct[np.abs(T - ising.TC) > 0.5].mean(), correct[np.abs(T - ising.TC) < 0.2].mean()
    assert far > 0.95, f"expected an accuracy above 0.95 on fresh lattices far from Tc (|T − Tc| > 0.5), got {far:.3f}"
    assert near < far, (
        f"expected the lowest accuracy near Tc: {near:.3f} for |T − Tc| < 0.2 against {far:.3f} far from it "
        "(fresh lattices)"
    )


# ---------------------------------------------------------------------------------------------------- task 3
@exercise.check(task="3", points=1)
def ordered_fraction_and_crossings(r, ctx):
    p_test = _p_test(r, ctx)
    T = ctx.kept["T_test"]
    _, mean, _ = per_temperature(T, p_test)
    _close(r["P_ordered"], mean, "P_ordered", "the mean of p_test at each temperature")
    error = array(r["P_error"], name="P_error")
    assert error.shape == mean.shape and np.all(error >= 0), "expected P_error, one standard error per temperature"
    called = magnetization_cut_predict(ctx.sent["x_test"], ctx.kept["cut"])
    _close(r["fraction_cut"], per_temperature(T, called)[1], "fraction_cut", "the fraction called ordered at each T")
    t_cross = number(r["T_cross"], "T_cross")
    assert np.isclose(t_cross, crossing_temperature(T, p_test)), (
        "expected T_cross = crossing_temperature(T_test, p_test)"
    )
    t_cut = number(r["T_cross_cut"], "T_cross_cut")
    assert np.isclose(t_cut, crossing_temperature(T, called)), "expected T_cross_cut from the cut's fraction"


@exercise.check(task="3", points=1)
def crossing_near_tc_on_fresh_lattices(r, ctx):
    t_cross = crossing_temperature(ctx.kept["fresh_T"], _fresh(r, ctx))
    assert np.isfinite(t_cross), "expected the mean output on fresh lattices to fall through 1/2"
    assert abs(t_cross - ising.TC) < 0.25, (
        f"expected the mean output on fresh lattices to cross 1/2 within 0.25 J/k_B of Tc, got {t_cross:.3f} J/k_B"
    )


# ---------------------------------------------------------------------------------------------------- task 4
@exercise.check(task="4", points=1)
def flipping_all_spins(r, ctx):
    y = ctx.kept["y_test"]
    flipped = _outputs(r, ctx, "test_flipped_outputs", "x_test", "model on -x_test")
    p_flipped = array(r["p_flipped"], name="p_flipped")
    assert p_flipped.shape == y.shape and np.allclose(p_flipped, flipped, atol=1e-5), (
        "expected p_flipped = model output on -x_test, shape (n_test,)"
    )
    got = number(r["accuracy_flipped"], "accuracy_flipped")
    assert np.isclose(got, np.mean((p_flipped > 0.5) == y)), "expected accuracy_flipped on the flipped test set"
    change = number(r["output_change"], "output_change")
    assert np.isclose(change, np.mean(np.abs(_test(r, ctx) - flipped)), atol=1e-5), (
        "expected output_change = mean |p_test − p_flipped|"
    )
    share = number(r["share_up"], "share_up")
    assert np.isclose(share, ctx.kept["share_up"]), (
        "expected share_up = fraction of ordered training configurations with m > 0"
    )
    labels = phase_labels(ctx.kept["fresh_T"])
    p, p_flip = _fresh(r, ctx), _fresh(r, ctx, flipped=True)
    accuracy, accuracy_flip = np.mean((p > 0.5) == labels), np.mean((p_flip > 0.5) == labels)
    fresh_change = np.mean(np.abs(p - p_flip))
    assert accuracy_flip > 0.9, f"expected an accuracy above 0.9 on flipped fresh lattices, got {accuracy_flip:.3f}"
    assert abs(accuracy_flip - accuracy) < 0.05, (
        "expected flipping to change the accuracy on fresh lattices by less than 0.05, got "
        f"{accuracy_flip - accuracy:+.3f}"
    )
    assert fresh_change < 0.15, f"expected a mean |P(s) − P(−s)| below 0.15 on fresh lattices, got {fresh_change:.3f}"


# ---------------------------------------------------------------------------------------------------- task 5
def _predict(r, ctx):
    n = len(ctx.sent["spins"])
    p = array(r["predict"], name="predict(spins)")
    assert p.shape == (n,), f"expected predict to return shape ({n},), got {p.shape}"
    assert np.all((p >= 0) & (p <= 1)), "expected probabilities between 0 and 1"
    return p


@exercise.check(task="5", points=1)
def predict_is_the_symmetrised_network(r, ctx):
    p = _predict(r, ctx)
    assert np.allclose(array(r["predict_flipped"], p.shape, "predict(-spins)"), p, atol=1e-6), (
        "expected predict(-spins) == predict(spins)"
    )
    up = _outputs(r, ctx, "model_spins", "spins", "model on the spins")
    down = _outputs(r, ctx, "model_spins_flipped", "spins", "model on the flipped spins")
    assert np.allclose(p, 0.5 * (up + down), atol=1e-5), (
        "expected predict(spins) = the mean of the network's outputs on spins and on -spins"
    )


@exercise.check(task="5", points=1)
def predict_classifies_fresh_lattices(r, ctx):
    labels = phase_labels(ctx.kept["new_T"])
    accuracy = np.mean((_predict(r, ctx) > 0.5) == labels)
    by_cut = np.mean(magnetization_cut_predict(ctx.sent["spins"], ctx.kept["cut"]) == labels)
    assert accuracy > 0.9, f"expected an accuracy above 0.9 on fresh lattices, got {accuracy:.3f}"
    assert accuracy >= by_cut - 0.05, (
        f"expected the network to be about as good as the |m| cut on fresh lattices: {accuracy:.3f} against "
        f"{by_cut:.3f}"
    )
