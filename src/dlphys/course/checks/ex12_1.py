"""Trusted checks of Exercise 12.1 — a CNN on CIFAR-10: mistakes, filters and feature maps (10 points).

CIFAR-10 has no simulator: the judge loads its own copy of the data (``cifar10.load()``, the announced stand-in of
the same shapes in fast mode where CIFAR-10 is not available) and has ``predict`` applied to its copy of the test
images and of the training images the notebook keeps aside (in an order drawn with the grader's seed). Accuracies,
the confusion matrix, the mistakes and their ranks are recomputed from these outputs and the judge's labels;
``feature_maps`` is compared with a sub-model of ``model`` on test images drawn with the grader's seed.

Tasks: part one's (1)-(3) are tasks 1-3 (task 1 also holds the final check of ``predict``); part two's (1) and (2)
are tasks 4 and 5, as the notebook's sections number them.
"""

import warnings

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import cifar10

MAX_TEST = 2000  # test images sent to predict (all of them in fast mode)
MAX_FRESH = 1000
N_MAPS = 3
NAMED = ("conv1", "conv2", "act1", "act2")

_SUBMODEL = (
    "__import__('keras').Model(model.inputs[0], [model.get_layer('act1').output, model.get_layer('act2').output])"
)

exercise = Exercise(
    "12_1_cifar_cnn",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "model_fresh": ("model", lambda r, ctx: ctx.sent["images_fresh"][:50].astype("float32") / 255.0),
    },
    collect={
        # (1) the network, its training and predict
        "input_shape": "[int(n) for n in model.inputs[0].shape[1:]]",
        "named_types": f"[type(model.get_layer(name)).__name__ for name in {NAMED}]",
        "act_shapes": "[[int(n) for n in model.get_layer(name).output.shape[1:]] for name in ('act1', 'act2')]",
        "conv1_kernel": "__import__('keras').ops.convert_to_numpy(model.get_layer('conv1').kernel)",
        "history": "history",
        "p_test": "predict(inputs['images_test'])",
        "test_accuracy": "test_accuracy",
        "p_fresh": "predict(inputs['images_fresh'])",
        # (2) confusion matrix
        "probabilities": "probabilities",
        "confusion": "confusion",
        "class_accuracy": "class_accuracy",
        "top_confusions": "[[int(v) for v in t] for t in top_confusions]",
        # (3) mistakes
        "misclassified": "misclassified",
        "true_rank": "true_rank",
        # part two
        "filters": "filters",
        "maps": "(lambda m: {'n': len(m), 'act1': m[0], 'act2': m[1]})(feature_maps(inputs['images_maps']))",
        "maps_reference": (
            f"(lambda m: {{'act1': __import__('keras').ops.convert_to_numpy(m[0]), "
            f"'act2': __import__('keras').ops.convert_to_numpy(m[1])}})"
            f"({_SUBMODEL}(inputs['images_maps'].astype('float32') / 255.0, training=False))"
        ),
    },
)


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cifar10.StandInWarning)
        (images_all, labels_all), (images_test, y_test), class_names = cifar10.load(fast=ctx.fast)
    stand_in = any(issubclass(w.category, cifar10.StandInWarning) for w in caught)
    p = ctx.params
    order = np.random.default_rng(p["SEED"]).permutation(len(labels_all))  # the notebook's seed_everything(SEED)
    kept_aside = order[p["VAL_SIZE"] : p["VAL_SIZE"] + p["FRESH_SIZE"]]
    kept_aside = rng.permutation(kept_aside)[:MAX_FRESH]
    maps = rng.choice(len(y_test), N_MAPS, replace=False)
    sent = {
        "images_test": images_test[:MAX_TEST],
        "images_fresh": images_all[kept_aside],
        "images_maps": images_test[maps],
    }
    kept = {
        "y_test": y_test.astype(int),
        "labels_fresh": labels_all[kept_aside].astype(int),
        "class_names": list(class_names),
        "stand_in": stand_in,
    }
    return sent, kept


def _probabilities(value, n, name):
    p = array(value, (n, 10), name)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-3), f"expected {name} to be probabilities that sum to 1 per image"
    return p


def _p_test(r, ctx):
    return _probabilities(r["p_test"], len(ctx.sent["images_test"]), "predict(images_test)")


def _accuracy_bound(ctx):
    return 0.25 if ctx.fast else 0.67


# ------------------------------------------------------------------------------------- (1) the network
@exercise.check(task="1", points=1)
def named_layers_and_history(r, ctx):
    shape = array(r["input_shape"], name="the input shape").astype(int).tolist()
    assert shape == [32, 32, 3], f"expected keras.Input(shape=(32, 32, 3)), got {shape}"
    types = r["named_types"]
    assert isinstance(types, list) and types[:2] == ["Conv2D", "Conv2D"], (
        f"expected conv1 and conv2 to be Conv2D layers, got {types[:2]}"
    )
    assert types[2:] == ["Activation", "Activation"], f"expected Activation layers act1, act2, got {types[2:]}"
    kernel = array(r["conv1_kernel"], name="the kernel of conv1")
    assert kernel.ndim == 4 and kernel.shape[:3] == (3, 3, 3), f"expected a 3 × 3 kernel in conv1, got {kernel.shape}"
    acts = array(r["act_shapes"], (2, None), "the act1 and act2 shapes").astype(int)
    for name, act in zip(("act1", "act2"), acts, strict=True):
        assert tuple(act[:2]) == (32, 32), (
            f"expected the maps of {name} at 32 × 32 (padding='same', no pooling before conv2), got {tuple(act[:2])}"
        )
    history = r["history"]
    assert isinstance(history, dict) and "val_accuracy" in history and "loss" in history, (
        "expected history of fit with validation data and metrics=['accuracy']"
    )
    epochs = len(array(history["loss"], name="history['loss']").reshape(-1))
    most = ctx.params["EPOCHS"]
    assert 1 <= epochs <= most, f"expected a history of at most EPOCHS = {most} epochs, got {epochs}"


@exercise.check(task="1", points=1)
def test_accuracy_is_that_of_predict(r, ctx):
    p = _p_test(r, ctx)
    accuracy = np.mean(p.argmax(axis=1) == ctx.kept["y_test"][: len(p)])
    tolerance = 1e-3 if len(p) == len(ctx.kept["y_test"]) else 0.06  # 0.06: a subset of the test images
    reported = number(r["test_accuracy"], "test_accuracy")
    assert abs(reported - accuracy) < tolerance, (
        f"expected test_accuracy = the accuracy of predict on images_test, got {reported:.4f}"
    )


@exercise.check(task="1", points=1)
def test_accuracy_well_above_chance(r, ctx):
    p = _p_test(r, ctx)
    accuracy = np.mean(p.argmax(axis=1) == ctx.kept["y_test"][: len(p)])
    bound = _accuracy_bound(ctx)
    assert accuracy > bound, f"expected a test accuracy above {bound} (chance: 0.1), got {accuracy:.3f}"


@exercise.check(task="1", points=2)
def predict_on_the_images_kept_aside(r, ctx):
    labels = ctx.kept["labels_fresh"]
    p = _probabilities(r["p_fresh"], len(labels), "predict(images)")
    reference = array(r["model_fresh"], (50, 10), "model.predict of the scaled images")
    assert np.allclose(p[:50], reference, atol=1e-4), "expected predict = the outputs of model on the scaled images"
    accuracy = np.mean(p.argmax(axis=1) == labels)
    bound = _accuracy_bound(ctx)
    assert accuracy > bound, f"expected an accuracy above {bound} on the images kept aside, got {accuracy:.3f}"


# ------------------------------------------------------------------------------- (2) confusion matrix
def _verified_probabilities(r, ctx):
    y = ctx.kept["y_test"]
    probabilities = array(r["probabilities"], (len(y), 10), "probabilities")
    p = _p_test(r, ctx)
    assert np.allclose(probabilities[: len(p)], p, atol=1e-4), "expected probabilities = predict(images_test)"
    return probabilities


def _confusion(probabilities, y):
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y, probabilities.argmax(axis=1)), 1)
    return confusion


@exercise.check(task="2", points=1)
def confusion_matrix_and_class_accuracy(r, ctx):
    y = ctx.kept["y_test"]
    reference = _confusion(_verified_probabilities(r, ctx), y)
    confusion = array(r["confusion"], (10, 10), "confusion")
    assert np.array_equal(confusion, reference), (
        "expected confusion[i, j] = the number of test images of true class i predicted as j"
    )
    class_accuracy = array(r["class_accuracy"], (10,), "class_accuracy")
    assert np.allclose(class_accuracy, np.diag(reference) / reference.sum(axis=1)), (
        "expected class_accuracy = diagonal / row sums of the confusion matrix"
    )


@exercise.check(task="2", points=1)
def largest_confusions(r, ctx):
    reference = _confusion(_verified_probabilities(r, ctx), ctx.kept["y_test"])
    top = r["top_confusions"]
    top = array(top, (5, 3), "top_confusions (five tuples (true class, predicted class, count))").astype(int)
    off = np.sort((reference * (1 - np.eye(10, dtype=int))).ravel())[::-1][:5]
    assert top[:, 2].tolist() == off.tolist(), "expected the five largest off-diagonal counts, largest first"
    assert all(i != j and reference[i, j] == c for i, j, c in top), (
        "expected tuples (true class, predicted class, count)"
    )
    class_accuracy = np.diag(reference) / np.maximum(reference.sum(axis=1), 1)
    assert np.sum(class_accuracy > 0.2) >= 6, (
        f"expected at least 6 classes recognised above 0.2, got {np.sum(class_accuracy > 0.2)}"
    )
    if not ctx.fast:  # the page's full-mode bound (the given code of task 2 asserts it too)
        assert class_accuracy.min() > 0.4, (
            f"expected every class above 0.4 in full mode, worst {class_accuracy.min():.2f}"
        )


# ------------------------------------------------------------------------------------------ (3) mistakes
@exercise.check(task="3", points=1)
def mistakes_in_order_with_the_rank_of_the_truth(r, ctx):
    y = ctx.kept["y_test"]
    probabilities = _verified_probabilities(r, ctx)
    predicted = probabilities.argmax(axis=1)
    misclassified = array(r["misclassified"], name="misclassified").astype(int).reshape(-1)
    assert sorted(misclassified.tolist()) == np.flatnonzero(predicted != y).tolist(), (
        "expected misclassified = the indices of all wrongly classified test images"
    )
    confidence = probabilities[misclassified, predicted[misclassified]]
    assert np.all(np.diff(confidence) <= 1e-6), "expected the most confident mistakes first"
    scores = probabilities[misclassified]
    true_score = scores[np.arange(len(misclassified)), y[misclassified]][:, None]
    # the rank of the true class: 1 + the classes scored above it; where others tie with it, any of the tied places
    highest, lowest = 1 + np.sum(scores > true_score, axis=1), np.sum(scores >= true_score, axis=1)
    true_rank = array(r["true_rank"], name="true_rank").reshape(-1)
    assert true_rank.shape == highest.shape, f"expected one true_rank per mistake, got {true_rank.shape}"
    assert np.all((highest <= true_rank) & (true_rank <= lowest)), (
        "expected true_rank = the place of the true class among the ten probabilities sorted largest first"
    )


# ------------------------------------------------------------------------------- part two: filters, maps
@exercise.check(task="4", points=1)
def filters_are_the_kernel_of_conv1(r, ctx):
    kernel = array(r["conv1_kernel"], name="the kernel of conv1")
    filters = array(r["filters"], name="filters")
    assert filters.shape == (kernel.shape[3], *kernel.shape[:3]), (
        f"expected filters of shape (n_filters, 3, 3, 3), got {filters.shape}"
    )
    assert np.allclose(filters, np.transpose(kernel, (3, 0, 1, 2))), (
        "expected filters[f, row, column, channel] = conv1 kernel[row, column, channel, f]"
    )


@exercise.check(task="5", points=1)
def feature_maps_of_act1_and_act2(r, ctx):
    maps, reference = r["maps"], r["maps_reference"]
    assert isinstance(maps, dict) and int(number(maps["n"])) == 2, "expected feature_maps to return two arrays"
    for name in ("act1", "act2"):
        got, want = array(maps[name], name=f"the {name} maps"), array(reference[name], name=f"{name}")
        assert got.shape == want.shape and got.shape[:3] == (N_MAPS, 32, 32), (
            f"expected the {name} maps of shape (n, 32, 32, filters), got {got.shape}"
        )
        assert np.allclose(got, want, atol=1e-4), f"expected the outputs of {name} with training=False"
