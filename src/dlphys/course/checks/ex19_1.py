"""Trusted checks of Exercise 19.1 — Ising phases through a noisy detector: domain adaptation (10 points).

The judge simulates its own lattices with the grader's seed: ``N_FRESH`` per temperature of the page's 21
temperatures (1.0 to 3.5 J/k_B), once clean (the simulation's domain) and once, from an independent chain, read
through the page's detector (``ising.readout`` with ``FLIP``: the data's domain). It knows their phases (T < Tc =
2.269). It

- calls ``predict_source`` on fresh clean lattices (accuracy above 0.9 fast / 0.95 full: a working classifier on
  its own domain);
- calls ``rescaled_cut``, ``predict_oracle``, ``predict_dann`` and ``predict_source`` on fresh data lattices and
  applies the page's criteria (cut and oracle: accuracy above 0.95, the cut's T_cross within 0.15 of Tc; DANN: at
  least 0.05 more accurate than the student's own source-only CNN, above 0.9, T_cross within 0.2 of Tc), and checks
  that ``dann_model`` contains a ``GradientReversal`` layer and that its ``"label"`` output is ``predict_dann``;
- builds ``GradientReversal(λ₁)``, traces its gradient once in a ``tf.function``, assigns λ₂ to the layer's ``lam``
  weight and takes the gradient again: forward identity, gradients −λ₁ and −λ₂ times the upstream gradient;
- takes ``features["source"]`` and ``features["dann"]`` of its fresh clean and data lattices and checks that they
  are what the networks' ``Dense(1, sigmoid)`` heads read (the last layer of ``source_model`` and the layer
  ``"label"`` of ``dann_model``, applied by the judge to those features, give ``predict_source`` and ``predict_dann``
  within 1e-3; float32 rounding is 1e-6), that the phase is readable from DANN's by a fresh linear classifier
  (accuracy above 0.9), and that its own domain classifier (a logistic regression, 2-fold cross-validated) tells the
  domains apart by the source CNN's features (above 0.75: why the source CNN fails). It does not require DANN's
  features to be less separable: with the page's λ_max = 0.3 a fresh linear classifier separated them less than the
  source CNN's in 4 of 6 trials (3 seeds, fast and full mode) and better in 2 (the adversary removes the domain
  information its own head finds, not all of it);
- regenerates the page's data test set (``SEED``, ``N_TEST_PER_T``, ``FLIP``, as the given cell makes it), calls
  the student's functions on it and recomputes ``scores`` and ``scan_scores`` from those outputs.

Not checkable here: that the DANN was trained without the data's labels (an oracle in disguise with a gradient
reversal layer passes every check; retraining is beyond the grading budget). The page forbids it; an instructor
reads the training cell.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dlphys.course.checks import Exercise, array
from dlphys.datasets import ising
from dlphys.reco import ising as reco_ising

N_FRESH = 30  # fresh lattices per temperature and domain
_GRL = (
    "(lambda tf: (lambda layer, x, w: (lambda g: [keras.ops.convert_to_numpy(layer(x)), g(x).numpy(), "
    "(layer.lam.assign(inputs['lam2']), 0)[1], g(x).numpy()])(tf.function(lambda v: tf.gradients("
    "tf.reduce_sum(layer(v) * w), v)[0])))(GradientReversal(float(inputs['lam1'])), tf.constant(inputs['x']), "
    "tf.constant(inputs['w'])))(__import__('tensorflow'))"
)

exercise = Exercise(
    "19_1_ising_domain_adaptation",
    # saved, and run by the judge in a clean sandbox; the student's GradientReversal is the identity in the forward
    # pass, and the judge runs Keras's Identity in its place (its gradient is checked in the sandbox: "grl" below)
    models={"dann_model": "dann_model"},
    runs={"dann_label": ("dann_model", "fresh_data")},
    stand_ins={"GradientReversal": "Identity"},
    collect={
        "source_clean": "predict_source(inputs['fresh_clean'])",
        "source_data": "predict_source(inputs['fresh_data'])",
        "cut_data": "rescaled_cut(inputs['fresh_data'])",
        "oracle_data": "predict_oracle(inputs['fresh_data'])",
        "dann_data": "predict_dann(inputs['fresh_data'])",
        "dann_clean": "predict_dann(inputs['fresh_clean'])",
        "source_head": "source_model.layers[-1].get_weights()",
        "dann_head": "dann_model.get_layer('label').get_weights()",
        "dann_layers": "[type(layer).__name__ for layer in dann_model._flatten_layers()]",
        "test": (
            "{'source': predict_source(inputs['x_test']), 'cut': rescaled_cut(inputs['x_test']), "
            "'oracle': predict_oracle(inputs['x_test']), 'dann': predict_dann(inputs['x_test'])}"
        ),
        "scores": "{k: [float(x) for x in v] for k, v in scores.items()}",
        "grl": _GRL,
        "features": "{k: [f(inputs['fresh_clean']), f(inputs['fresh_data'])] for k, f in features.items()}",
        "scan_test": "{str(float(k)): f(inputs['x_test']) for k, f in scan_predict.items()}",
        "scan_scores": "{str(float(k)): [float(x) for x in v] for k, v in scan_scores.items()}",
    },
)


def crossing_temperature(T, p_ordered) -> float:
    """Where the per-temperature mean of ``p_ordered`` first falls through 0.5, clamped to the grid (the page's)."""
    return reco_ising.crossing_temperature(T, p_ordered, clamp=True)


def test_set(params):
    """The page's data test set ``(x_test, T_test)``, made as its given cell makes it."""
    clean, temperatures = ising.simulate(
        ising.DEFAULT_TEMPERATURES, params["N_TEST_PER_T"], params["SIZE"], seed=params["SEED"] + 3, progress=False
    )
    return ising.readout(clean, params["FLIP"], seed=params["SEED"] + 4), temperatures


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    p = ctx.params
    seeds = [int(s) for s in rng.integers(2**31, size=3)]
    clean, T_clean = ising.simulate(ising.DEFAULT_TEMPERATURES, N_FRESH, p["SIZE"], seed=seeds[0], progress=False)
    hidden, T_data = ising.simulate(ising.DEFAULT_TEMPERATURES, N_FRESH, p["SIZE"], seed=seeds[1], progress=False)
    x_test, T_test = test_set(p)
    sent = {
        "fresh_clean": clean,
        "fresh_data": ising.readout(hidden, p["FLIP"], seed=seeds[2]),
        "x_test": x_test,
        "lam1": float(rng.uniform(0.2, 0.9)),
        "lam2": float(rng.uniform(1.5, 3.0)),
        "x": rng.normal(size=(3, 5)).astype("float32"),
        "w": rng.normal(size=(3, 5)).astype("float32"),
    }
    kept = {"T_clean": T_clean, "T_data": T_data, "T_test": T_test}
    return sent, kept


def _probabilities(value, n: int, name: str) -> np.ndarray:
    out = array(value, name=name).reshape(-1)
    assert out.shape == (n,), f"expected {name} to return one P(ordered) per lattice ({n}), got {out.size} values"
    assert np.all((out >= 0) & (out <= 1)), f"expected {name} to return probabilities in [0, 1]"
    return out


def _figures(p, T) -> tuple[float, float]:
    return float(np.mean((p > 0.5) == (T < ising.TC))), crossing_temperature(T, p)


def _fresh(r, ctx, key: str, name: str) -> tuple[float, float]:
    domain = "T_clean" if key == "source_clean" else "T_data"
    return _figures(_probabilities(r[key], len(ctx.kept[domain]), name), ctx.kept[domain])


def _reported(got, figures, n: int, name: str) -> None:
    got = array(got, (2,), name)
    assert abs(got[0] - figures[0]) < 1.5 / n and abs(got[1] - figures[1]) < 2e-3, (
        f"expected {name} = (accuracy, T_cross) of your function on the data test set; got ({got[0]:.4f}, {got[1]:.4f})"
    )


def _score_recomputed(r, ctx, method: str, function: str) -> None:
    T = ctx.kept["T_test"]
    test = r["test"]
    figures = _figures(_probabilities(test[method], len(T), f"{function}(x_test)"), T)
    scores = r["scores"]
    assert isinstance(scores, dict) and method in scores, f"expected scores[{method!r}]"
    _reported(scores[method], figures, len(T), f"scores[{method!r}]")


@exercise.check(task="1", points=1)
def source_cnn_classifies_fresh_clean_lattices(r, ctx):
    accuracy, _ = _fresh(r, ctx, "source_clean", "predict_source(clean lattices)")
    bound = 0.9 if ctx.fast else 0.95
    assert accuracy > bound, f"expected predict_source above {bound} on fresh clean lattices; yours is {accuracy:.3f}"


@exercise.check(task="1", points=1)
def source_score_is_recomputed(r, ctx):
    _score_recomputed(r, ctx, "source", "predict_source")


@exercise.check(task="2", points=1)
def rescaled_cut_finds_the_transition_in_fresh_data(r, ctx):
    decisions = array(r["cut_data"], name="rescaled_cut(spins)").reshape(-1)
    assert np.all((decisions == 0) | (decisions == 1)), "expected rescaled_cut to return decisions 0.0 or 1.0"
    accuracy, t_cross = _fresh(r, ctx, "cut_data", "rescaled_cut")
    assert accuracy > 0.95 and abs(t_cross - ising.TC) < 0.15, (
        f"expected the rescaled cut above 0.95 on fresh data lattices with T_cross within 0.15 J/k_B of Tc; yours: "
        f"accuracy {accuracy:.3f}, T_cross {t_cross:.3f}"
    )


@exercise.check(task="2", points=1)
def cut_score_is_recomputed(r, ctx):
    _score_recomputed(r, ctx, "cut", "rescaled_cut")


@exercise.check(task="3", points=1)
def oracle_classifies_fresh_data(r, ctx):
    accuracy, _ = _fresh(r, ctx, "oracle_data", "predict_oracle")
    assert accuracy > 0.95, f"expected predict_oracle above 0.95 on fresh data lattices; yours is {accuracy:.3f}"
    _score_recomputed(r, ctx, "oracle", "predict_oracle")


@exercise.check(task="4", points=1)
def gradient_reversal_is_identity_with_reversed_gradient(r, ctx):
    value = r["grl"]
    assert isinstance(value, list) and len(value) == 4, "expected GradientReversal(lam) to be callable on a tensor"
    x, w = ctx.sent["x"], ctx.sent["w"]
    forward = array(value[0], x.shape, "GradientReversal(lam)(x)")
    assert np.allclose(forward, x, atol=1e-6), "expected GradientReversal to return its input unchanged"
    for gradient, lam, when in ((value[1], ctx.sent["lam1"], "at first"), (value[3], ctx.sent["lam2"], "after")):
        got = array(gradient, x.shape, "the gradient")
        ratio = float(np.median(got / w))
        assert np.allclose(got, -lam * w, atol=1e-5), (
            f"expected the gradient to be −λ × the upstream gradient {when} assigning λ to layer.lam in a traced "
            f"function; yours is {ratio:.3f} × the upstream gradient"
        )


@exercise.check(task="5", points=1)
def dann_beats_the_source_cnn_on_fresh_data(r, ctx):
    layers = r["dann_layers"]
    assert isinstance(layers, list) and "GradientReversal" in layers, (
        "expected dann_model with a GradientReversal layer"
    )
    dann = _probabilities(r["dann_data"], len(ctx.kept["T_data"]), "predict_dann")
    label = r["dann_label"]  # the saved dann_model's outputs: a dict of its two heads
    label = label["label"] if isinstance(label, dict) and "label" in label else label
    label = _probabilities(label, len(dann), "dann_model's 'label' output")
    assert np.allclose(label, dann, atol=1e-4), "expected predict_dann to be the label head of dann_model"
    accuracy, t_cross = _figures(dann, ctx.kept["T_data"])
    source, _ = _fresh(r, ctx, "source_data", "predict_source")
    assert accuracy > source + 0.05 and accuracy > 0.9 and abs(t_cross - ising.TC) < 0.2, (
        f"expected DANN at least 0.05 more accurate than your source-only CNN on fresh data lattices, above 0.9, with "
        f"T_cross within 0.2 J/k_B of Tc; yours: {accuracy:.3f} (source-only {source:.3f}), T_cross {t_cross:.3f}"
    )


@exercise.check(task="5", points=1)
def dann_score_is_recomputed(r, ctx):
    _score_recomputed(r, ctx, "dann", "predict_dann")


def head_error(features, weights, p) -> float:
    """Largest |sigmoid(features · w + b) − p|: 0 (float32 rounding) when ``p`` is the head's output on them."""
    w, b = (np.asarray(v, dtype=float) for v in weights)
    logit = np.asarray(features, dtype=float) @ w.reshape(-1) + b.reshape(-1)[0]
    return float(np.max(np.abs(1 / (1 + np.exp(-logit)) - np.asarray(p, dtype=float))))


def linear_accuracy(features, labels) -> float:
    """Accuracy of a logistic regression reading ``labels`` (0/1) from ``features``, 2-fold cross-validated."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(2, shuffle=True, random_state=0)
    return float(np.mean(cross_val_score(classifier, features, labels, cv=folds)))


def domain_accuracy(clean_features, data_features) -> float:
    """How well a fresh logistic regression tells clean from data features (2-fold cross-validated)."""
    d = np.r_[np.zeros(len(clean_features)), np.ones(len(data_features))]
    return linear_accuracy(np.concatenate([clean_features, data_features]), d)


@exercise.check(task="6", points=1)
def features_feed_the_heads_and_the_source_features_tell_the_domains_apart(r, ctx):
    features = r["features"]
    assert isinstance(features, dict) and {"source", "dann"} <= set(features), (
        "expected features with the keys 'source' and 'dann'"
    )
    n = len(ctx.kept["T_clean"])
    accuracy = {}
    outputs = {
        "source": ("source_clean", "source_data", "predict_source", "source_head"),
        "dann": ("dann_clean", "dann_data", "predict_dann", "dann_head"),
    }
    for name in ("source", "dann"):
        pair = features[name]
        assert len(pair) == 2, f"expected features[{name!r}] to return features of each lattice"
        clean, data = (array(f, name=f"features[{name!r}]") for f in pair)
        assert clean.ndim == 2 and clean.shape[0] == n and data.shape == clean.shape, (
            f"expected features[{name!r}] to return (n, k) features; got {clean.shape}"
        )
        if name == "source":
            accuracy[name] = domain_accuracy(clean, data)
        clean_key, data_key, function, head = outputs[name]
        p = np.r_[_probabilities(r[clean_key], n, function), _probabilities(r[data_key], n, function)]
        weights = r[head]
        assert isinstance(weights, list) and len(weights) == 2, f"expected the Dense(1, sigmoid) head of {function}"
        error = head_error(np.concatenate([clean, data]), weights, p)
        assert error < 1e-3, (
            f"expected features[{name!r}] to be what the Dense(1, sigmoid) head of {function} reads; the head applied "
            f"to them differs from {function} by up to {error:.3g}"
        )
    # the features must be what the label head reads: the phase is linearly readable from DANN's (its head is linear)
    phases = np.r_[ctx.kept["T_clean"], ctx.kept["T_data"]] < ising.TC
    readable = linear_accuracy(np.concatenate([array(f, name="features['dann']") for f in features["dann"]]), phases)
    assert readable > 0.9, (
        f"expected the phase to be readable from features['dann'] (the features of the label head); a fresh linear "
        f"classifier reaches {readable:.3f} on them"
    )
    assert accuracy["source"] > 0.75, (
        f"expected a fresh domain classifier to tell simulation from data by the source CNN's features (accuracy above "
        f"0.75); it reaches {accuracy['source']:.3f}"
    )


@exercise.check(task="7", points=1)
def scan_scores_are_recomputed(r, ctx):
    T = ctx.kept["T_test"]
    tests, scores = r["scan_test"], r["scan_scores"]
    wanted = sorted(str(float(lam)) for lam in ctx.params["SCAN_LAMBDAS"])
    assert isinstance(tests, dict) and sorted(tests) == wanted, "expected scan_predict with one entry per SCAN_LAMBDAS"
    assert isinstance(scores, dict) and sorted(scores) == wanted, "expected scan_scores with one entry per SCAN_LAMBDAS"
    for lam in wanted:
        figures = _figures(_probabilities(tests[lam], len(T), f"scan_predict[{lam}]"), T)
        _reported(scores[lam], figures, len(T), f"scan_scores[{lam}]")
