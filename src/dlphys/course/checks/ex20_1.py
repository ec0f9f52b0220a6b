"""Trusted checks of Exercise 20.1 — anomaly detection on Fashion-MNIST with an autoencoder (10 points).

The judge loads Fashion-MNIST itself and rebuilds the notebook's split of the normal class (the seeded permutation
of its first cell). It reads the autoencoder through its reconstructions of images the judge sends: random test
images, the normal-class test images, the whole test set (for ``errors_test``, ``median_error`` and the AUCs), and
for ``predict`` the normal images the notebook kept aside together with training images of the other classes drawn
with the grader's seed. ``pca`` is judged by its mean, its components and its ``pca_error``; ``roc_per_class`` on
scores the judge makes up. Every bound is one the page states: the MSE below half that of the class's mean image
(task 2), a mean AUC above 0.8 (task 5), an AUC above 0.75 for ``predict`` (task 6).
"""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import fashion_mnist

exercise = Exercise(
    "20_1_fashion_anomaly_autoencoder",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "out_x": ("model", "x"),
        "out_normal": ("model", "x_normal"),
        "out_test": ("model", "x_test"),
        "out_fresh": ("model", lambda r, ctx: ctx.sent["raw_fresh"][..., None] / 255.0),
    },
    collect={
        "dense_units": "[layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]",
        "has_conv": "any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)",
        "history": "history",
        "reconstruction_error": "reconstruction_error(model, inputs['x'])",
        "predict_x": "predict(inputs['raw_x'])",
        "errors_test": "errors_test",
        "median_error": "median_error",
        "pca": "{'n_components': int(pca.n_components_), 'mean': pca.mean_, 'components': pca.components_}",
        "pca_error": "pca_error(inputs['x'])",
        "roc": "{name: float(value[2]) for name, value in roc_per_class(inputs['scores']).items()}",
        "predict_fresh": "predict(inputs['raw_fresh'])",
    },
)


def _scale(images):
    return (np.asarray(images, dtype="float32") / 255.0)[..., None]


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    rng = ctx.rng
    (images_all, labels_all), (images_test, y_test), class_names = fashion_mnist.load(fast=ctx.fast)
    normal = class_names.index(p["NORMAL_CLASS"])
    # the notebook's split: the first use of the Generator that seed_everything(SEED) returns
    order = np.random.default_rng(p["SEED"]).permutation(np.sum(labels_all == normal))
    normal_images = images_all[labels_all == normal][order]
    n_val, n_fresh = int(p["VAL_FRACTION"] * len(normal_images)), int(p["FRESH_FRACTION"] * len(normal_images))
    x_train = _scale(normal_images[n_val + n_fresh :])
    kept_aside = np.concatenate([normal_images[n_val : n_val + n_fresh], images_test[y_test == normal]])
    others = images_all[rng.choice(np.flatnonzero(labels_all != normal), len(kept_aside), replace=False)]
    raw_x = images_test[rng.choice(len(images_test), 300, replace=False)]
    n_test = len(y_test)
    scores = rng.normal(size=n_test) + rng.uniform(0.0, 1.5, size=10)[y_test]
    flat = x_train.reshape(len(x_train), -1).astype(np.float64)
    reference = PCA(n_components=p["LATENT"]).fit(flat)
    sent = {
        "x": _scale(raw_x),
        "raw_x": raw_x,
        "x_normal": _scale(images_test[y_test == normal]),
        "x_test": _scale(images_test),
        "scores": scores,
        "raw_fresh": np.concatenate([kept_aside, others]),
    }
    kept = {
        "y_test": y_test,
        "normal": normal,
        "class_names": list(class_names),
        "mean_image": x_train.mean(axis=0),
        "train_flat": flat,
        "pca_variance": float(np.sum(reference.explained_variance_)),
        "anomalous_fresh": np.r_[np.zeros(len(kept_aside), bool), np.ones(len(others), bool)],
    }
    return sent, kept


def _errors(out, x, name):
    out = array(out, x.shape, name)
    return np.mean((out - x.astype(np.float64)) ** 2, axis=(1, 2, 3))


# ----------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def autoencoder_has_the_asked_shape(r, ctx):
    x = ctx.sent["x"]
    out = array(r["out_x"], x.shape, "model.predict(images)")
    assert np.all((out >= 0) & (out <= 1)), "expected reconstructions (n, 28, 28, 1) in [0, 1]"
    latent = ctx.params["LATENT"]
    units = [int(u) for u in np.atleast_1d(r["dense_units"])]
    assert latent in units, f"expected a Dense bottleneck of LATENT = {latent} units, got Dense layers of {units}"
    assert bool(r["has_conv"]), "expected a convolutional encoder (Conv2D layers)"


# ----------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def history_covers_every_epoch_with_validation(r, ctx):
    history = r["history"]
    epochs = ctx.params["EPOCHS"]
    assert isinstance(history, dict) and {"loss", "val_loss"} <= set(history), (
        "expected `history` from fit with (x_val, x_val) as validation data"
    )
    n = array(history["loss"], name="history.history['loss']").size
    assert n == epochs, f"expected a history of EPOCHS = {epochs} epochs, got {n}"


@exercise.check(task="2", points=1)
def autoencoder_beats_the_mean_image(r, ctx):
    x = ctx.sent["x_normal"]
    mse = float(np.mean(_errors(r["out_normal"], x, "model.predict(images)")))
    baseline = float(np.mean((x - ctx.kept["mean_image"]) ** 2))
    assert mse < 0.5 * baseline, (
        f"expected the autoencoder to reconstruct unseen {ctx.params['NORMAL_CLASS']} images far better than the mean "
        f"image of the class (MSE below half), got {mse / baseline:.2f} × its MSE"
    )


# ----------------------------------------------------------------------------------------------- task 3
@exercise.check(task="3", points=1)
def reconstruction_error_is_the_mean_squared_difference(r, ctx):
    x = ctx.sent["x"]
    expected = _errors(r["out_x"], x, "model.predict(images)")
    got = array(r["reconstruction_error"], (len(x),), "reconstruction_error(model, images)")
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-8), (
        "expected reconstruction_error(model, images) = the mean squared pixel difference per image"
    )


@exercise.check(task="3", points=1)
def errors_test_and_median_error(r, ctx):
    x_test, y_test = ctx.sent["x_test"], ctx.kept["y_test"]
    expected = _errors(r["out_test"], x_test, "model.predict(x_test)")
    errors = array(r["errors_test"], (len(x_test),), "errors_test")
    assert np.allclose(errors, expected, rtol=1e-4, atol=1e-8), (
        "expected errors_test = reconstruction_error(model, x_test)"
    )
    medians = r["median_error"]
    names = ctx.kept["class_names"]
    assert isinstance(medians, dict) and set(medians) == set(names), (
        "expected median_error with one entry per class name"
    )
    for k, name in enumerate(names):
        got = number(medians[name], f"median_error[{name!r}]")
        assert np.isclose(got, np.median(expected[y_test == k]), rtol=1e-4), (
            f"expected median_error[{name!r}] = the median of errors_test over the test images of that class"
        )


@exercise.check(task="3", points=1)
def predict_scores_raw_images(r, ctx):
    x = ctx.sent["x"]
    expected = _errors(r["out_x"], x, "model.predict(images)")
    got = array(r["predict_x"], (len(x),), "predict(images)")
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-8), (
        "expected predict(uint8 images) = their reconstruction error on the model's scaling (pixel values in [0, 1])"
    )


# ----------------------------------------------------------------------------------------------- task 5
@exercise.check(task="5", points=1)
def pca_is_fitted_on_x_train(r, ctx):
    pca = r["pca"]
    latent = ctx.params["LATENT"]
    assert isinstance(pca, dict), "expected `pca` to be a fitted scikit-learn PCA"
    assert int(number(pca["n_components"])) == latent, f"expected a PCA with LATENT = {latent} components"
    flat = ctx.kept["train_flat"]
    mean = array(pca["mean"], (flat.shape[1],), "pca.mean_")
    components = array(pca["components"], (latent, flat.shape[1]), "pca.components_")
    assert np.allclose(mean, flat.mean(axis=0), atol=1e-5), "expected a PCA fitted on x_train flattened to (n, 784)"
    centred = flat - flat.mean(axis=0)
    variance = float(np.sum((centred @ components.T) ** 2) / (len(flat) - 1))
    assert variance > 0.99 * ctx.kept["pca_variance"], (
        "expected the LATENT leading principal components of x_train (the components hold less of its variance)"
    )
    x = ctx.sent["x"].reshape(len(ctx.sent["x"]), -1).astype(np.float64)
    rebuilt = (x - mean) @ components.T @ components + mean
    got = array(r["pca_error"], (len(x),), "pca_error(images)")
    assert np.allclose(got, np.mean((rebuilt - x) ** 2, axis=1), rtol=1e-4, atol=1e-8), (
        "expected pca_error = the mean squared difference between each image and its reconstruction by `pca`"
    )


@exercise.check(task="5", points=1)
def roc_per_class_and_the_autoencoders_aucs(r, ctx):
    y_test, normal, names = ctx.kept["y_test"], ctx.kept["normal"], ctx.kept["class_names"]
    anomalous = [k for k in range(10) if k != normal]
    roc = r["roc"]
    assert isinstance(roc, dict) and set(roc) == {names[k] for k in anomalous}, (
        "expected roc_per_class to return one entry per anomalous class name"
    )

    def auc(scores, k):
        pair = (y_test == normal) | (y_test == k)
        return roc_auc_score(y_test[pair] == k, scores[pair])

    for k in anomalous:
        got = number(roc[names[k]], f"the AUC of {names[k]}")
        assert np.isclose(got, auc(ctx.sent["scores"], k)), (
            f"expected the AUC of {names[k]} against {names[normal]}, from the test images of these two classes only"
        )
    errors = _errors(r["out_test"], ctx.sent["x_test"], "model.predict(x_test)")
    aucs = np.array([auc(errors, k) for k in anomalous])
    assert aucs.mean() > 0.8, f"expected a mean AUC of the reconstruction error above 0.8, got {aucs.mean():.3f}"


# ----------------------------------------------------------------------------------------------- task 6
@exercise.check(task="6", points=1)
def predict_is_the_reconstruction_error(r, ctx):
    raw = ctx.sent["raw_fresh"]
    scores = array(r["predict_fresh"], (len(raw),), "predict(images)")
    assert np.all((scores >= 0) & (scores <= 1)), "expected mean squared pixel differences in [0, 1]"
    expected = _errors(r["out_fresh"], _scale(raw), "model.predict(images)")
    assert np.allclose(scores, expected, rtol=1e-4, atol=1e-8), (
        "expected predict(uint8 images) = their reconstruction error by `model` (pixel values in [0, 1])"
    )


@exercise.check(task="6", points=1)
def predict_finds_anomalies_in_fresh_images(r, ctx):
    raw = ctx.sent["raw_fresh"]
    scores = array(r["predict_fresh"], (len(raw),), "predict(images)")
    auc = roc_auc_score(ctx.kept["anomalous_fresh"], scores)
    assert auc > 0.75, (
        f"expected an AUC above 0.75 on unseen {ctx.params['NORMAL_CLASS']} images against other classes, got {auc:.3f}"
    )
