"""Trusted checks of Exercise 4.3 — one-hot encoding, softmax and cross-entropy (10 points).

The student's ``one_hot``, ``softmax``, ``softmax_naive`` and cross-entropy functions are called on labels, logits
and targets drawn with the grader's seed (also shifted and scaled up) and compared with the judge's own stable
formulas. The toy results are recomputed from the page's four particles. For the wine classifier the judge replays
the page's full-batch gradient descent itself, on its own copy of the standardised wine split, and compares ``W``,
``b``, the loss curve, the logits and the accuracies, and the Keras classifier's weights and probabilities, with it.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import wine

LABELS = np.array([0, 1, 2, 1])  # the page's four toy particles
LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.2, 0.2, 3.1], [3.0, -1.0, 0.0]])
Q_MIN, N_QUALITIES = 3, 7

exercise = Exercise(
    "04_3_softmax_crossentropy",
    models={"classifier": "classifier"},  # saved, and run by the judge in a clean sandbox
    runs={
        "classifier_fresh": ("classifier", "x"),
    },
    collect={
        "one_hot_fresh": "one_hot(inputs['labels'], int(inputs['k']))",
        "targets": "targets",
        "softmax_fresh": "softmax(inputs['z'])",
        "softmax_shifted": "softmax(inputs['z'] + inputs['c'])",
        "softmax_huge": "softmax(inputs['huge'] * inputs['z'])",
        "softmax_naive_fresh": "softmax_naive(inputs['z'])",
        "probs": "probs",
        "probs_keras": "probs_keras",
        "naive_large": "naive_large",
        "stable_large": "stable_large",
        "ce_logits_fresh": "cross_entropy_from_logits(inputs['t'], inputs['z_ce'])",
        "ce_probs_fresh": "cross_entropy_from_probs(inputs['t'], inputs['p_ce'])",
        "ce_logits_big": "cross_entropy_from_logits(inputs['t'], inputs['big'] * inputs['z_ce'])",
        "ce_probs": "ce_probs",
        "ce_logits": "ce_logits",
        "ce_keras_logits": "ce_keras_logits",
        "ce_keras_probs": "ce_keras_probs",
        "ce_are_floats": "[isinstance(v, float) for v in (ce_probs, ce_logits, ce_keras_logits, ce_keras_probs)]",
        "predicted": "predicted",
        "p_predicted": "p_predicted",
        "p_true": "p_true",
        "loss_per_particle": "loss_per_particle",
        "W": "W",
        "b": "b",
        "loss_curve": "loss_curve",
        "z_test": "z_test",
        "accuracy": "accuracy",
        "majority": "majority",
        "accuracy_majority": "accuracy_majority",
        "classifier_weights": "classifier.layers[-1].get_weights()",
        "p_test_keras": "p_test_keras",
        "keras_history": "keras_history",
    },
)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _cross_entropy(t, z):
    m = z.max(axis=-1)
    return float(np.mean(m + np.log(np.exp(z - m[:, None]).sum(axis=-1)) - (t * z).sum(axis=-1)))


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    p = ctx.params
    k = int(rng.integers(3, 9))
    n_ce, k_ce = int(rng.integers(6, 20)), int(rng.integers(3, 8))
    z_ce = rng.normal(size=(n_ce, k_ce)) * rng.uniform(0.5, 3.0)
    sent = {
        "labels": rng.integers(0, k, size=int(rng.integers(10, 40))),
        "k": k,
        "z": rng.normal(size=(int(rng.integers(4, 12)), int(rng.integers(3, 8)))) * rng.uniform(0.5, 3.0),
        "c": rng.uniform(50.0, 500.0),
        "huge": 1e4,
        "t": np.eye(k_ce)[rng.integers(0, k_ce, size=n_ce)],
        "z_ce": z_ce,
        "p_ce": _softmax(z_ce),
        "big": 1000.0,
        "x": rng.normal(size=(int(rng.integers(20, 60)), 11)).astype("float32"),
    }
    # The page's wine classifier, replayed: full-batch gradient descent on the mean cross-entropy from W = 0, b = 0.
    data = wine.load(test_fraction=p["TEST_FRACTION"], seed=p["SEED"]).standardized()
    c_train, c_test = (data.y_train - Q_MIN).astype(int), (data.y_test - Q_MIN).astype(int)
    t_train = np.eye(N_QUALITIES)[c_train]
    W, b, curve = np.zeros((11, N_QUALITIES)), np.zeros(N_QUALITIES), []
    for _ in range(p["STEPS"]):
        z = data.x_train @ W + b
        curve.append(_cross_entropy(t_train, z))
        grad = (_softmax(z) - t_train) / len(t_train)
        W = W - p["LEARNING_RATE"] * data.x_train.T @ grad
        b = b - p["LEARNING_RATE"] * grad.sum(axis=0)
    kept = {"x_test": data.x_test, "c_train": c_train, "c_test": c_test, "W": W, "b": b, "curve": np.array(curve)}
    return sent, kept


@exercise.check(task="1", points=1)
def one_hot_encodes_fresh_labels(r, ctx):
    labels, k = ctx.sent["labels"], ctx.sent["k"]
    table = array(r["one_hot_fresh"], (len(labels), k), f"one_hot(labels, {k}) for {len(labels)} labels")
    assert np.array_equal(table, np.eye(k)[labels]), "expected 1.0 in the column of each label and 0.0 elsewhere"
    targets = array(r["targets"], (len(LABELS), 3), "targets")
    assert np.array_equal(targets, np.eye(3)[LABELS]), "expected targets = one_hot(labels, K)"


@exercise.check(task="2", points=1)
def softmax_is_stable_on_fresh_logits(r, ctx):
    z = ctx.sent["z"]
    reference = _softmax(z)
    p = array(r["softmax_fresh"], z.shape, "softmax(z) (the shape of z)")
    assert np.allclose(p, reference), "expected softmax(z) = exp(z_k) / Σ_j exp(z_j) over the last axis"
    assert np.allclose(array(r["softmax_shifted"], z.shape, "softmax(z + c)"), reference), (
        "expected softmax(z + c) = softmax(z)"
    )
    huge = array(r["softmax_huge"], z.shape, "softmax(10⁴ z) (finite, the shape of z)")
    assert np.allclose(huge, _softmax(ctx.sent["huge"] * z)), "expected the stable softmax to handle huge logits"
    naive = array(r["softmax_naive_fresh"], z.shape, "softmax_naive(z)")
    assert np.allclose(naive, reference), "expected softmax_naive = softmax for small logits"


@exercise.check(task="2", points=1)
def toy_probabilities_and_the_overflow(r, ctx):
    probs = array(r["probs"], LOGITS.shape, "probs")
    assert np.allclose(probs, _softmax(LOGITS)), "expected probs = softmax(logits)"
    assert np.allclose(array(r["probs_keras"], LOGITS.shape, "probs_keras"), probs, atol=1e-6), (
        "expected probs_keras = the softmax of logits from keras.activations.softmax"
    )
    naive = np.asarray(r["naive_large"], dtype=float)
    assert naive.shape == LOGITS.shape and np.isnan(naive).any(), (
        "expected naive_large = softmax_naive(1000 * logits), with nan from inf/inf"
    )
    stable = array(r["stable_large"], LOGITS.shape, "stable_large")
    assert np.allclose(stable, _softmax(1000 * LOGITS)), "expected stable_large = softmax(1000 * logits)"


def _scalar(value, name):
    assert np.ndim(value) == 0, f"expected {name} to be the mean cross-entropy, a single number"
    return number(value, name)


@exercise.check(task="3", points=1)
def cross_entropy_functions_on_fresh_targets(r, ctx):
    t, z = ctx.sent["t"], ctx.sent["z_ce"]
    reference = _cross_entropy(t, z)
    got = _scalar(r["ce_logits_fresh"], "cross_entropy_from_logits(targets, logits)")
    assert np.isclose(got, reference), "expected the mean of log Σ_j exp(z_j) − z_true, in nats"
    got = _scalar(r["ce_probs_fresh"], "cross_entropy_from_probs(targets, probs)")
    assert np.isclose(got, reference), "expected the mean of −log p_true, in nats"
    big = _scalar(r["ce_logits_big"], "cross_entropy_from_logits(targets, 1000 * logits)")
    assert np.isclose(big, _cross_entropy(t, ctx.sent["big"] * z), rtol=1e-9), (
        f"expected a finite, exact loss from huge logits (log-sum-exp), got {big:g}"
    )


@exercise.check(task="3", points=1)
def toy_cross_entropies_agree(r, ctx):
    floats = np.asarray(r["ce_are_floats"])
    assert floats.shape == (4,) and floats.all(), (
        "expected ce_probs, ce_logits, ce_keras_logits, ce_keras_probs as Python floats"
    )
    reference = _cross_entropy(np.eye(3)[LABELS], LOGITS)
    for name, rtol in (("ce_probs", 1e-9), ("ce_logits", 1e-9), ("ce_keras_logits", 1e-5), ("ce_keras_probs", 1e-5)):
        got = number(r[name], name)
        assert np.isclose(got, reference, rtol=rtol, atol=0), (
            f"expected {name} = the mean cross-entropy of the four particles, got {got:.5f}"
        )


@exercise.check(task="4a", points=1)
def toy_predictions(r, ctx):
    rows, probs = np.arange(len(LABELS)), _softmax(LOGITS)
    predicted = array(r["predicted"], (4,), "predicted")
    assert np.array_equal(predicted, np.argmax(LOGITS, axis=1)), "expected predicted = the class of the largest logit"
    assert np.allclose(array(r["p_predicted"], (4,), "p_predicted"), probs.max(axis=1)), (
        "expected p_predicted = probability of the predicted class"
    )
    assert np.allclose(array(r["p_true"], (4,), "p_true"), probs[rows, LABELS]), (
        "expected p_true = probability of the true class"
    )
    assert np.allclose(array(r["loss_per_particle"], (4,), "loss_per_particle"), -np.log(probs[rows, LABELS])), (
        "expected loss_per_particle = −log p_true"
    )


@exercise.check(task="4b", points=1)
def gradient_descent_by_hand(r, ctx):
    kept, steps = ctx.kept, ctx.params["STEPS"]
    W = array(r["W"], (11, N_QUALITIES), "W")
    b = array(r["b"], (N_QUALITIES,), "b")
    curve = array(r["loss_curve"], name="loss_curve")
    assert curve.shape == (steps,), f"expected {steps} entries in loss_curve, got {curve.size}"
    assert np.isclose(curve[0], np.log(N_QUALITIES)), "expected loss_curve[0] = log 7, the loss of W = 0, b = 0"
    assert curve[-1] < curve[0], "expected the training loss to fall"
    assert np.allclose(curve, kept["curve"], rtol=1e-6, atol=1e-8), (
        "expected loss_curve = the training cross-entropy before each of the STEPS full-batch steps"
    )
    assert np.allclose(W, kept["W"], atol=1e-6) and np.allclose(b, kept["b"], atol=1e-6), (
        "expected W and b after STEPS full-batch gradient-descent steps of size LEARNING_RATE from W = 0, b = 0"
    )


@exercise.check(task="4b", points=1)
def test_logits_and_accuracy(r, ctx):
    kept = ctx.kept
    x_test, c_test = kept["x_test"], kept["c_test"]
    W = array(r["W"], (11, N_QUALITIES), "W")
    b = array(r["b"], (N_QUALITIES,), "b")
    z = x_test @ W + b
    assert np.allclose(array(r["z_test"], z.shape, "z_test"), z), "expected z_test = x_test @ W + b"
    accuracy = number(r["accuracy"], "accuracy")
    recomputed = float(np.mean(np.argmax(z, axis=1) == c_test))
    assert np.isclose(accuracy, recomputed), (
        f"expected accuracy = the fraction of test wines classified right, got {accuracy:.3f}"
    )
    majority = np.bincount(kept["c_train"]).argmax()
    baseline = np.mean(c_test == majority)
    assert baseline + 0.04 < recomputed < 0.7, (
        f"expected a test accuracy at least 0.04 above always guessing the most frequent class and below 0.7, "
        f"got {recomputed:.3f}"
    )
    prior = np.bincount(kept["c_train"], minlength=N_QUALITIES) / len(kept["c_train"])
    ce_test = _cross_entropy(np.eye(N_QUALITIES)[c_test], z)
    assert ce_test < -np.mean(np.log(prior[c_test])) - 0.05, (
        f"expected a test cross-entropy clearly below that of the training class frequencies, got {ce_test:.3f}"
    )


@exercise.check(task="4b", points=1)
def majority_baseline(r, ctx):
    kept = ctx.kept
    majority = number(r["majority"], "majority")
    assert majority == np.bincount(kept["c_train"]).argmax(), (
        f"expected majority = the most frequent class of the training wines (an index 0–6), got {majority:g}"
    )
    got = number(r["accuracy_majority"], "accuracy_majority")
    assert np.isclose(got, np.mean(kept["c_test"] == majority)), (
        f"expected accuracy_majority = the test accuracy of always predicting majority, got {got:.3f}"
    )


@exercise.check(task="4c", points=1)
def keras_classifier_reproduces_the_hand_made_one(r, ctx):
    kept, steps = ctx.kept, ctx.params["STEPS"]
    weights = r["classifier_weights"]
    assert isinstance(weights, list) and len(weights) == 2, "expected a last layer with (kernel, bias)"
    W = array(weights[0], (11, N_QUALITIES), "the classifier's kernel")
    b = array(weights[1], (N_QUALITIES,), "the classifier's bias")
    x = ctx.sent["x"].astype(float)
    p = array(r["classifier_fresh"], (len(x), N_QUALITIES), f"classifier.predict(x) ({N_QUALITIES} per wine)")
    assert np.allclose(p, _softmax(x @ W + b), atol=1e-5), (
        "expected classifier = one Dense layer with a softmax output (probabilities summing to 1)"
    )
    p_test = array(r["p_test_keras"], (len(kept["c_test"]), N_QUALITIES), "p_test_keras")
    assert np.allclose(p_test, _softmax(kept["x_test"] @ W + b), atol=1e-5), (
        "expected p_test_keras = classifier's probabilities for x_test"
    )
    history = r["keras_history"]
    assert isinstance(history, dict) and "loss" in history, "expected keras_history = classifier.fit(...)"
    n = np.size(history["loss"])
    assert n == steps, f"expected keras_history of {steps} epochs, got {n}"
    largest = max(np.max(np.abs(W - kept["W"])), np.max(np.abs(b - kept["b"])))
    assert largest < 1e-3, (
        f"expected the Keras weights within 1e-3 of the full-batch gradient-descent weights, got {largest:.1e} off"
    )
    t_test = np.eye(N_QUALITIES)[kept["c_test"]]
    ce_model = float(np.mean(-np.log(np.clip((t_test * p_test).sum(axis=1), 1e-300, None))))
    ce_hand = _cross_entropy(t_test, kept["x_test"] @ kept["W"] + kept["b"])
    assert abs(ce_model - ce_hand) < 1e-3, (
        f"expected the same test cross-entropy as the classifier by hand, got {ce_model:.4f}"
    )
