"""Trusted checks of Exercise 18.1 — a GAN for Fashion-MNIST (10 points).

The judge loads Fashion-MNIST itself and draws fresh latent vectors and seeds. It reads the student's networks only
through their outputs, run by the judge from the saved networks in a clean sandbox (never the student's code): the
generator's images of the judge's latent vectors and of the latent vectors the student's ``sample_latent`` draws
for ``generate``'s seeds, the discriminator's and the classifier's outputs on the judge's test images, and the
activations of the classifier's layer named ``"features"`` on images the judge chooses and on the images that came
back (which must be the saved generator's). ``generate`` must return the saved generator's images of
``sample_latent(n, np.random.default_rng(seed))``, as the page says, so a ``generate`` that returns other images
(training images, say) earns nothing. The student's ``features`` is compared with the layer on fresh images. Every
Fréchet distance and class histogram the notebook reports is recomputed here from those activations and
probabilities (:func:`dlphys.metrics.frechet_distance`, the notebook's own yardstick), so a number that does not
come from the student's networks and the data fails.

The quality criteria (brightness and variety, the Fréchet distance against the floor, an untrained generator and
random pixels, mode collapse) are judged on the saved generator's images of latent vectors the judge draws itself
from the page's prior U(-1, 1)^LATENT, never on the vectors of the student's ``sample_latent`` (which could pick
the good ones), and against an untrained generator of the page's recipe that the judge draws with its own weights,
never against the student's ``epoch_samples[0]`` (which could be noise). The generated images must also be new:
the median distance of one of them to its nearest image of all 70,000 of Fashion-MNIST must be at least half that of
a real test image to its nearest training image (a "generator" that picks stored training or test images, which the
Fréchet distance and the class histogram cannot tell from a good one, fails).
"""

import numpy as np
from scipy import stats

from dlphys.course.checks import Exercise, array, number, returned
from dlphys.datasets import fashion_mnist
from dlphys.metrics import frechet_distance


def _scale(images):
    return np.asarray(images, dtype="float32") / 127.5 - 1.0


def _sent_images(key):
    """The sent uint8 images ``key``, scaled as the page scales the classifier's input."""
    return lambda r, ctx: _scale(ctx.sent[key])


def _returned_images(key):
    """Images that came back from the notebook (uint8), scaled as the page scales the classifier's input; the checks
    compare them with the saved generator's."""
    return returned(key, lambda ctx: (None, 28, 28), _scale)


def _returned_latent(key):
    return returned(key, lambda ctx: (None, ctx.params["LATENT"]))


# The generator's outputs for the judge's latent vectors z_quality as they came back from the notebook, turned into
# pixels and scaled as the page's features does; the checks compare them with the saved generator's own outputs.
_quality_source = returned(
    "quality_outputs", lambda ctx: (len(ctx.sent["z_quality"]), 28, 28), lambda x: _scale(_pixels(x))
)


exercise = Exercise(
    "18_1_fashion_gan",
    # saved, and run by the judge in a clean sandbox
    models={"generator": "generator", "model": "model", "classifier": "classifier"},
    runs={
        "generator_images": ("generator", "z"),
        "p_real": ("model", "x_real"),
        "track_images": ("generator", "z_track"),
        "p_classifier": ("classifier", "x_ref"),
        # generate's images, made again from the latent vectors the student's sample_latent draws for its seeds: only
        # to check that generate is the saved generator
        "generator_fd": ("generator", _returned_latent("latent_fd")),
        "generator_fresh": ("generator", _returned_latent("latent_fresh")),
        # the images every quality criterion is judged on: of latent vectors the judge draws from the prior
        "generator_quality": ("generator", "z_quality"),
        # the activations of the classifier's layer "features"
        "layer_check": ("classifier", _sent_images("check"), "features"),
        "f_ref": ("classifier", "x_ref", "features"),
        "f_train": ("classifier", _sent_images("train"), "features"),
        "f_baseline": ("classifier", _sent_images("gaussian"), "features"),
        "f_untrained": ("classifier", lambda r, ctx: _scale(ctx.kept["untrained"]), "features"),
        "f_noise": ("classifier", _sent_images("noise"), "features"),
        "f_generated": ("classifier", _returned_images("generated_fd"), "features"),
        "f_epoch_first": ("classifier", _returned_images("epoch_samples_first"), "features"),
        "f_epoch_last": ("classifier", _returned_images("epoch_samples_last"), "features"),
        "f_fresh": ("classifier", _quality_source, "features"),
        "p_generated": ("classifier", _returned_images("generated_fd")),
        "p_fresh": ("classifier", _quality_source),
    },
    collect={
        "latent": (
            "[sample_latent(int(inputs['n_latent']), np.random.default_rng(int(inputs['seed_latent']))) "
            "for _ in range(2)]"
        ),
        "latent_fd": "sample_latent(int(inputs['n_fd']), np.random.default_rng(0))",
        "latent_fresh": "sample_latent(1000, np.random.default_rng(int(inputs['seed_fresh'])))",
        "x_test_shape": "list(np.shape(x_test))",
        "x_test_rows": "np.asarray(x_test)[inputs['rows']]",
        "y_test": "np.asarray(y_test)",
        "generate_a": "[generate(64, seed=int(inputs['seed_a'])) for _ in range(2)]",
        "generate_b": "generate(64, seed=int(inputs['seed_b']))",
        "generate_fresh": "generate(1000, seed=int(inputs['seed_fresh']))",
        "quality_outputs": "generator.predict(inputs['z_quality'], verbose=0)",
        "generated_fd": "generate(int(inputs['n_fd']), seed=0)",
        "d_losses": "d_losses",
        "g_losses": "g_losses",
        "epoch_samples_meta": "[[*np.shape(s), str(np.asarray(s).dtype)] for s in epoch_samples]",
        "epoch_samples_first": "epoch_samples[0]",
        "epoch_samples_last": "epoch_samples[-1]",
        "classifier_accuracy": "classifier_accuracy",
        "f_check": "features(inputs['check'])",
        "fd_real": "fd_real",
        "fd_generated": "fd_generated",
        "fd_baseline": "fd_baseline",
        "fd_per_epoch": "fd_per_epoch",
        "class_fractions": "class_fractions",
        "class_fractions_real": "class_fractions_real",
    },
)


def _gaussian_pixel_images(images_train, n, seed):
    """The notebook's baseline: n draws from the multivariate normal of the training pixels, uint8."""
    pixels = images_train.reshape(len(images_train), -1).astype("float64")
    mean = pixels.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(pixels, rowvar=False))
    noise = np.random.default_rng(seed).standard_normal((n, mean.size))
    x = mean + (noise * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(n, 28, 28)


def _untrained_generator_images(z, rng):
    """Images (uint8) of an untrained generator of the page's recipe, with weights drawn with ``rng`` as Keras
    initialises them: Dense 256 and 512 (Glorot uniform, zero bias), each with LeakyReLU(0.2) and a
    BatchNormalization in its initial state, then Dense 784 with tanh. The judge's stand-in for epoch 0."""
    x, fan_in = np.asarray(z, dtype="float64"), np.shape(z)[1]
    for units in (256, 512, 28 * 28):
        limit = np.sqrt(6.0 / (fan_in + units))
        x = x @ rng.uniform(-limit, limit, size=(fan_in, units))
        x = np.tanh(x) if units == 28 * 28 else np.where(x > 0, x, 0.2 * x) / np.sqrt(1.0 + 1e-3)
        fan_in = units
    return _pixels(x).astype(np.uint8).reshape(len(x), 28, 28)


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    rng = ctx.rng
    (images_train, _), (images_test, labels_test), _ = fashion_mnist.load(fast=ctx.fast)
    (all_train, _), (all_test, _), _ = fashion_mnist.load(fast=False)
    n_fd, n_test = p["N_FD"], len(images_test)
    seeds = rng.integers(10_000, 2**31, size=4)
    real_rows = rng.choice(n_test, 200, replace=False)
    fake_rows = n_test + rng.choice(n_test, 200, replace=False)
    sent = {
        "n_latent": np.array(2000),
        "seed_latent": np.array(int(seeds[0])),
        "seed_a": np.array(int(seeds[1])),
        "seed_b": np.array(int(seeds[1]) + 1),
        "seed_fresh": np.array(int(seeds[2])),
        "n_fd": np.array(n_fd),
        "z": rng.uniform(-1.0, 1.0, size=(200, p["LATENT"])).astype("float32"),
        "x_real": _scale(images_test[rng.choice(n_test, 500, replace=False)]),
        "rows": np.concatenate([real_rows, fake_rows]),
        "z_track": np.random.default_rng(1).uniform(-1.0, 1.0, size=(n_fd, p["LATENT"])).astype("float32"),
        # the latent vectors of the quality criteria, from the page's prior U(-1, 1)^LATENT
        "z_quality": rng.uniform(-1.0, 1.0, size=(max(n_fd, 1000), p["LATENT"])).astype("float32"),
        "x_ref": _scale(images_test[:n_fd]),
        "reference": images_test[:n_fd],
        "train": images_train[:n_fd],
        "gaussian": _gaussian_pixel_images(images_train, n_fd, 0),
        "noise": rng.integers(0, 256, size=(n_fd, 28, 28)).astype(np.uint8),
        "check": np.concatenate(
            [
                images_test[rng.choice(n_test, 200, replace=False)],
                images_train[rng.choice(len(images_train), 100, replace=False)],
                rng.integers(0, 256, size=(100, 28, 28)).astype(np.uint8),
            ]
        ),
    }
    kept = {
        "n_test": n_test,
        "real_rows": _scale(images_test[real_rows]),
        "labels_ref": labels_test[:n_fd],
        "whole_test_set": n_fd >= n_test,
        "real_mean": float(images_test[:1000].mean()),
        "real_pixel_std": float(np.std(images_test[:1000].astype(float), axis=0).mean()),
        "steps": len(images_train) // p["BATCH_SIZE"],
        "untrained": _untrained_generator_images(rng.uniform(-1.0, 1.0, size=(n_fd, p["LATENT"])), rng),
        # every Fashion-MNIST image, and how far a real test image lies from its nearest training image
        "all_images": np.concatenate([all_train, all_test]),
        "real_nearest": float(
            np.median(nearest_distances(all_test[rng.choice(len(all_test), N_NOVELTY, replace=False)], all_train))
        ),
    }
    return sent, kept


N_NOVELTY = 200  # generated and real images whose nearest Fashion-MNIST neighbours the judge finds
NOVELTY = 0.5  # generated images must lie at least this fraction of a real image's nearest-neighbour distance away


def nearest_distances(images, pool) -> np.ndarray:
    """Euclidean distance (pixel values) of each image (n, 28, 28) to its nearest image in ``pool`` (m, 28, 28)."""
    a = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    squared = np.full(len(a), np.inf, dtype=np.float32)
    for start in range(0, len(pool), 10_000):
        b = np.asarray(pool[start : start + 10_000], dtype=np.float32).reshape(-1, a.shape[1])
        d = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        squared = np.minimum(squared, d.min(1))
    return np.sqrt(np.clip(squared, 0, None))


def _images(value, n, name):
    images = array(value, (n, 28, 28), name)
    assert images.min() >= 0 and images.max() <= 255, f"expected pixel values 0-255 from {name}"
    return images


def _pixels(x) -> np.ndarray:
    """The page's to_pixels: outputs in [-1, 1] -> uint8 pixel values."""
    return np.clip(np.rint((np.asarray(x, dtype=np.float64) + 1.0) * 127.5), 0, 255)


def _generated(r, name, run, n):
    """The images ``name`` of ``generate``, which must be the saved generator's images of the latent vectors the
    student's ``sample_latent`` drew for the same seed (the page's recipe)."""
    images = _images(r[name], n, name.replace("_", " "))
    made = _pixels(array(r[run], (n, 28, 28), "the generator's images of sample_latent's vectors"))
    assert np.abs(images - made).max() <= 1 and np.mean(images == made) > 0.99, (
        "expected generate(n, seed) = the trained generator's images of sample_latent(n, np.random.default_rng(seed)), "
        "as the page says; it returns other images"
    )
    return images


def _quality(r, ctx):
    """The saved generator's images (pixel values) of the judge's latent vectors ``z_quality``; the outputs that came
    back from the notebook for them, on which the classifier's runs ``f_fresh`` and ``p_fresh`` are made, must be
    those images."""
    n = len(ctx.sent["z_quality"])
    made = _pixels(array(r["generator_quality"], (n, 28, 28), "the generator's images of the grader's latent vectors"))
    got = _pixels(array(r["quality_outputs"], (n, 28, 28), "generator.predict(z) of the grader's latent vectors z"))
    assert np.abs(got - made).max() <= 1 and np.mean(got == made) > 0.99, (
        "expected generator.predict(z) in the notebook to give the saved generator's images of the grader's latent "
        "vectors z"
    )
    return made


def _features(r, name, n):
    return array(r[name], (n, None), f"features of {n} images")


def _fresh_features(r, ctx):
    """The features of the saved generator's images of the first N_FD of the judge's latent vectors."""
    n = len(ctx.sent["z_quality"])
    return array(r["f_fresh"], (n, None), f"features of {n} images")[: ctx.params["N_FD"]]


def _fd(r, a, b, n):
    return frechet_distance(_features(r, a, n), _features(r, b, n))


def _fractions(probs, n):
    probs = array(probs, (n, 10), "classifier.predict(images)")
    return np.bincount(probs.argmax(axis=1), minlength=10) / n


# ----------------------------------------------------------------------------------------------- task 1
@exercise.check(task="1", points=1)
def sample_latent_draws_from_the_uniform_prior(r, ctx):
    draws = r["latent"]
    n, latent = int(ctx.sent["n_latent"]), ctx.params["LATENT"]
    assert isinstance(draws, np.ndarray) and draws.dtype == np.float32, (
        f"expected sample_latent(n, rng) to return a float32 array, got {getattr(draws, 'dtype', type(draws))}"
    )
    z = array(draws, (2, n, latent), f"two calls of sample_latent(n, rng) with n = {n}")
    assert np.array_equal(z[0], z[1]), "expected the same latent vectors from generators rng of the same seed"
    assert np.all(np.abs(z) <= 1), "expected latent vectors from the uniform prior U(-1, 1)"
    p_value = stats.kstest(z[0].ravel(), stats.uniform(loc=-1, scale=2).cdf).pvalue
    assert p_value > 1e-4, f"expected components uniformly distributed in [-1, 1] (KS test p = {p_value:.1e})"


@exercise.check(task="1", points=1)
def networks_and_the_discriminator_test_set(r, ctx):
    z = ctx.sent["z"]
    images = array(r["generator_images"], (len(z), 28, 28), "generator.predict(z)")
    assert np.all(np.abs(images) <= 1), "expected generated images in [-1, 1] (a tanh output)"
    x_real = ctx.sent["x_real"]
    p_real = array(r["p_real"], (len(x_real), 1), "model.predict(images)")
    assert np.all((p_real >= 0) & (p_real <= 1)), "expected the discriminator to return P(real) in [0, 1]"
    n_test = ctx.kept["n_test"]
    shape = [int(s) for s in r["x_test_shape"]]
    assert shape == [2 * n_test, 28, 28], f"expected x_test of shape ({2 * n_test}, 28, 28), got {tuple(shape)}"
    y_test = array(r["y_test"], (2 * n_test,), "y_test")
    assert np.array_equal(y_test, np.r_[np.ones(n_test), np.zeros(n_test)]), (
        "expected y_test = 1 for the test images, followed by 0 for as many generated images"
    )
    rows = array(r["x_test_rows"], (len(ctx.sent["rows"]), 28, 28), "rows of x_test")
    real = ctx.kept["real_rows"]
    assert np.allclose(rows[: len(real)], real, atol=1e-5), "expected x_test to start with all test images, scaled"
    assert np.all(np.abs(rows[len(real) :]) <= 1), "expected generated images in [-1, 1] in the second half of x_test"


# ----------------------------------------------------------------------------------------------- task 2
@exercise.check(task="2", points=1)
def generate_returns_pixel_images_of_its_seed(r, ctx):
    a = r["generate_a"]
    assert isinstance(a, np.ndarray) and a.shape == (2, 64, 28, 28), (
        f"expected generate(64, seed) of shape (64, 28, 28), got {np.shape(a)[1:]}"
    )
    a = _images(a.reshape(-1, 28, 28), 128, "generate(64, seed)").reshape(2, 64, 28, 28)
    assert a.max() > 1, "expected pixel values 0-255, not an output in [-1, 1]"
    assert np.array_equal(a[0], a[1]), "expected the same seed to give the same images"
    b = _images(r["generate_b"], 64, "generate(64, seed)")
    assert not np.array_equal(a[0], b), "expected another seed to give other images"


@exercise.check(task="2", points=1)
def generated_images_look_like_clothes(r, ctx):
    _generated(r, "generate_fresh", "generator_fresh", 1000)
    images = _quality(r, ctx)[:1000]
    mean, real_mean = images.mean(), ctx.kept["real_mean"]
    assert abs(mean - real_mean) < 0.3 * real_mean, (
        f"expected the mean pixel value of generated images within 30 % of that of real images, got {mean:.1f}"
    )
    spread = np.std(images, axis=0).mean()
    assert spread > 0.5 * ctx.kept["real_pixel_std"], "expected generated images that differ from each other"
    nearest = float(np.median(nearest_distances(images[:N_NOVELTY], ctx.kept["all_images"])))
    real = ctx.kept["real_nearest"]
    assert nearest > NOVELTY * real, (
        f"expected new images, not copies of Fashion-MNIST images: the median distance of a generated image to its "
        f"nearest Fashion-MNIST image is {nearest:.0f}, below {NOVELTY} of a real test image's to its nearest "
        f"training image ({real:.0f})"
    )


@exercise.check(task="2", points=1)
def losses_and_epoch_samples_of_the_training(r, ctx):
    epochs, steps, n_fd = ctx.params["EPOCHS"], ctx.kept["steps"], ctx.params["N_FD"]
    d_losses = array(r["d_losses"], name="d_losses").reshape(-1)
    g_losses = array(r["g_losses"], name="g_losses").reshape(-1)
    assert d_losses.size == g_losses.size == epochs * steps, (
        f"expected EPOCHS × steps = {epochs * steps} losses each, got {d_losses.size} and {g_losses.size}"
    )
    d_last, g_last = d_losses[-steps:].mean(), g_losses[-steps:].mean()
    assert 0.3 < d_last < 2.0, (
        f"expected the discriminator's loss in the last epoch between 0.3 and 2, got {d_last:.3f}"
    )
    assert g_last < 4.0, f"expected the generator's loss in the last epoch below 4, got {g_last:.3f}"
    meta = r["epoch_samples_meta"]
    assert isinstance(meta, list) and len(meta) == epochs + 1, f"expected EPOCHS + 1 = {epochs + 1} epoch_samples"
    assert all([str(v) for v in m] == [str(n_fd), "28", "28", "uint8"] for m in meta), (
        "expected uint8 arrays (N_FD, 28, 28) in epoch_samples"
    )
    last = _images(r["epoch_samples_last"], n_fd, "epoch_samples[-1]")
    track = array(r["track_images"], (n_fd, 28, 28), "generator.predict(z_track)")
    pixels = _pixels(track)
    assert np.abs(last - pixels).max() <= 1 and np.mean(last == pixels) > 0.99, (
        "expected epoch_samples[-1] = the trained generator's images of z_track"
    )


# ----------------------------------------------------------------------------------------------- task 4
@exercise.check(task="4", points=1)
def classifier_is_accurate_and_features_are_its_layer(r, ctx):
    labels = ctx.kept["labels_ref"]
    probs = array(r["p_classifier"], (len(labels), 10), "classifier.predict(images)")
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    assert accuracy > 0.8, f"expected a classifier test accuracy above 0.8, got {accuracy:.3f}"
    reported = number(r["classifier_accuracy"], "classifier_accuracy")
    tolerance = 0.005 if ctx.kept["whole_test_set"] else 0.03
    assert abs(reported - accuracy) < tolerance, (
        f"expected classifier_accuracy = the accuracy on the test images, got {reported:.3f}"
    )
    n = len(ctx.sent["check"])
    layer = array(r["layer_check"], (n, None), "the activations of the layer 'features'")
    assert layer.shape[1] == 64, f"expected a 'features' layer of 64 units, got {layer.shape[1]}"
    got = array(r["f_check"], (n, 64), "features(images)")
    off = float(np.max(np.abs(got - layer)))
    assert off < 1e-4 + 1e-3 * float(np.max(np.abs(layer))), (
        f"expected features(images) = the activations of the classifier's layer 'features', off by up to {off:.3g}"
    )


@exercise.check(task="4", points=1)
def frechet_distances_are_recomputed(r, ctx):
    n, epochs = ctx.params["N_FD"], ctx.params["EPOCHS"]
    _generated(r, "generated_fd", "generator_fd", n)
    _images(r["epoch_samples_first"], n, "epoch_samples[0]")
    per_epoch = array(r["fd_per_epoch"], name="fd_per_epoch").reshape(-1)
    assert per_epoch.size == epochs + 1, f"expected EPOCHS + 1 = {epochs + 1} distances, got {per_epoch.size}"
    expected = {
        "fd_real": (_fd(r, "f_train", "f_ref", n), 1e-3),
        "fd_generated": (_fd(r, "f_generated", "f_ref", n), 1e-3),
        "fd_baseline": (_fd(r, "f_baseline", "f_ref", n), 0.02),
        "fd_per_epoch[0]": (_fd(r, "f_epoch_first", "f_ref", n), 1e-3),
        "fd_per_epoch[-1]": (_fd(r, "f_epoch_last", "f_ref", n), 1e-3),
    }
    reported = {
        "fd_real": number(r["fd_real"], "fd_real"),
        "fd_generated": number(r["fd_generated"], "fd_generated"),
        "fd_baseline": number(r["fd_baseline"], "fd_baseline"),
        "fd_per_epoch[0]": per_epoch[0],
        "fd_per_epoch[-1]": per_epoch[-1],
    }
    for name, (value, rtol) in expected.items():
        assert np.isclose(reported[name], value, rtol=rtol, atol=1e-6), (
            f"expected {name} = the Fréchet distance of the features to those of the reference images, got "
            f"{reported[name]:.3f}"
        )


@exercise.check(task="4", points=1)
def generator_is_far_closer_to_real_images_than_noise(r, ctx):
    n = ctx.params["N_FD"]
    _generated(r, "generated_fd", "generator_fd", n)
    _quality(r, ctx)
    fresh = frechet_distance(_fresh_features(r, ctx), _features(r, "f_ref", n))
    floor, untrained = _fd(r, "f_train", "f_ref", n), _fd(r, "f_untrained", "f_ref", n)
    assert floor < fresh, (
        f"expected the real-image floor {floor:.2f} below the Fréchet distance of the generator's images, got "
        f"{fresh:.2f}"
    )
    assert fresh < untrained / 3, (
        f"expected training to cut the Fréchet distance of an untrained generator of the page's recipe by 3x, got "
        f"{untrained:.2f} -> {fresh:.2f}"
    )
    noise = _fd(r, "f_noise", "f_ref", n)
    assert fresh < noise / 2, (
        f"expected fresh generated images far closer to real images than random pixels: {fresh:.2f} against "
        f"{noise:.2f} for random pixels"
    )


@exercise.check(task="4", points=1)
def class_fractions_are_recomputed(r, ctx):
    n = ctx.params["N_FD"]
    _generated(r, "generated_fd", "generator_fd", n)
    for name, probs in (("class_fractions", "p_generated"), ("class_fractions_real", "p_classifier")):
        fractions = array(r[name], (10,), name)
        assert np.isclose(fractions.sum(), 1), f"expected {name} adding up to 1"
        assert np.allclose(fractions, _fractions(r[probs], n), atol=2.5 / n), (
            f"expected {name} = the shares of the classes the classifier assigns to its images"
        )


@exercise.check(task="4", points=1)
def no_mode_collapse_on_fresh_latent_vectors(r, ctx):
    _generated(r, "generate_fresh", "generator_fresh", 1000)
    _quality(r, ctx)
    probs = array(r["p_fresh"], (len(ctx.sent["z_quality"]), 10), "classifier.predict(images)")
    fractions = _fractions(probs[:1000], 1000)
    present = int(np.sum(fractions >= 0.02))
    assert fractions.max() < 0.4, f"expected no class above 40 % of fresh generated images, got {fractions.max():.2f}"
    assert present >= 6, f"expected at least 6 classes with >= 2 % of fresh generated images, got {present}"
