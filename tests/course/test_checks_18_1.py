"""The judge of 18.1: generate must be the saved generator, and every feature comes from the saved classifier.

No network is trained: the "generator" below is a fixed random map of the latent vectors to images, and the
clean sandbox's outputs are made from it as the saved network's would be.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex18_1 as judge

PARAMS = {"N_FD": 300, "LATENT": 8, "EPOCHS": 2, "BATCH_SIZE": 64}
WEIGHTS = np.random.default_rng(0).normal(size=(PARAMS["LATENT"], 28 * 28)) / 3


def generator(z):
    """A fixed map of latent vectors (n, LATENT) to outputs in [-1, 1] (n, 28, 28), the saved network's output."""
    return np.tanh(np.asarray(z) @ WEIGHTS).reshape(len(z), 28, 28).astype("float32")


def pixels(x):
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def latent(n, seed):
    return np.random.default_rng(seed).uniform(-1, 1, (n, PARAMS["LATENT"])).astype("float32")


def _results(seed_fresh=7):
    n = PARAMS["N_FD"]
    z_fd, z_fresh = latent(n, 0), latent(1000, seed_fresh)
    return {
        "latent_fd": z_fd,
        "latent_fresh": z_fresh,
        "generated_fd": pixels(generator(z_fd)),
        "generate_fresh": pixels(generator(z_fresh)),
        # what the clean sandbox returns for the saved generator on those latent vectors
        "generator_fd": generator(z_fd),
        "generator_fresh": generator(z_fresh),
    }


def _ctx():
    return Context("18_1_fashion_gan", 1, PARAMS, True, sent={}, kept={"real_mean": 128.0, "real_pixel_std": 10.0})


def test_generate_of_the_saved_generator_passes_the_tie():
    r = _results()
    images = judge._generated(r, "generate_fresh", "generator_fresh", 1000)
    assert images.shape == (1000, 28, 28)
    judge._generated(r, "generated_fd", "generator_fd", PARAMS["N_FD"])


@pytest.mark.parametrize(
    "check",
    [
        judge.generated_images_look_like_clothes,
        judge.frechet_distances_are_recomputed,
        judge.generator_is_far_closer_to_real_images_than_noise,
        judge.class_fractions_are_recomputed,
        judge.no_mode_collapse_on_fresh_latent_vectors,
    ],
)
def test_a_generate_that_returns_other_images_than_the_generator_fails_every_check_built_on_it(check):
    """A generate that returns real images (here: other images of the right kind) while the saved generator makes
    something else: the checks of generate's images fail, whatever those images would have scored."""
    r = _results()
    other = np.random.default_rng(5).integers(0, 256, (1000, 28, 28)).astype(np.uint8)
    r["generate_fresh"], r["generated_fd"] = other, other[: PARAMS["N_FD"]]
    r["epoch_samples_first"] = other[: PARAMS["N_FD"]]
    r["fd_per_epoch"] = np.zeros(PARAMS["EPOCHS"] + 1)
    with pytest.raises(AssertionError, match=r"expected generate\(n, seed\) = the trained generator's images"):
        check(r, _ctx())


def test_every_feature_and_class_probability_comes_from_the_saved_classifier():
    exercise = checks.load("18_1_fashion_gan")
    layers = exercise.run_layers["classifier"]
    assert set(layers.values()) == {"features"}
    assert {"layer_check", "f_ref", "f_train", "f_generated", "f_fresh", "f_epoch_first", "f_untrained"} <= set(layers)
    assert exercise.runs["p_fresh"][0] == exercise.runs["p_generated"][0] == "classifier"
    in_kernel = " ".join(exercise.collect.values())
    assert "get_layer" not in in_kernel and "classifier.predict" not in in_kernel  # only features(...) is the student's


def test_a_missing_result_leaves_the_classifiers_other_runs_alone():
    """generate failing must not cost the classifier's own accuracy: the run gets a blank image instead."""
    exercise = checks.load("18_1_fashion_gan")
    source = exercise.runs["f_generated"][1]
    blank = source({}, _ctx())
    assert blank.shape == (1, 28, 28) and blank.dtype == np.float32
    r = _results()
    scaled = source(r, _ctx())
    assert np.allclose(scaled, r["generated_fd"] / 127.5 - 1.0, atol=1e-6)  # float32


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("18_1_fashion_gan")
    ctx = Context("18_1_fashion_gan", 3, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def test_the_quality_criteria_are_judged_on_the_judges_latent_vectors_from_the_prior(prepared):
    exercise, ctx = prepared
    z = ctx.sent["z_quality"]
    assert z.shape == (1000, PARAMS["LATENT"]) and z.dtype == np.float32 and np.all(np.abs(z) < 1)
    assert stats.kstest(z.ravel(), stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-4
    assert exercise.runs["generator_quality"] == ("generator", "z_quality")
    assert exercise.runs["f_fresh"][1] is exercise.runs["p_fresh"][1] is judge._quality_source
    assert exercise.collect["quality_outputs"] == "generator.predict(inputs['z_quality'], verbose=0)"
    # the student's latent vectors feed only the runs that tie generate to the saved generator
    assert {run for run, (_, source, *_) in exercise.runs.items() if "latent_fd" in _keys(source)} == {"generator_fd"}
    assert {run for run, (_, source, *_) in exercise.runs.items() if any("latent" in k for k in _keys(source))} == {
        "generator_fd",
        "generator_fresh",
    }


def _keys(source):
    """The names of the results a run's source reads: a sent key, or the key of a ``returned`` source."""
    if isinstance(source, str):
        return {source}
    return {c.cell_contents for c in source.__closure__ or () if isinstance(c.cell_contents, str)}


def test_the_untrained_baseline_is_the_judges_own(prepared):
    exercise, ctx = prepared
    untrained = ctx.kept["untrained"]
    assert untrained.shape == (PARAMS["N_FD"], 28, 28) and untrained.dtype == np.uint8
    assert "untrained" not in ctx.sent  # never seen by the notebook
    assert np.allclose(exercise.runs["f_untrained"][1]({}, ctx), untrained / 127.5 - 1.0, atol=1e-6)


def test_the_judges_untrained_generator_looks_like_one_of_the_pages_recipe():
    """Faint noise around mid-grey, as the page's generator makes before training (same pixel statistics)."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    network = keras.Sequential(
        [keras.Input(shape=(64,))]
        + [
            layer
            for units in (256, 512)
            for layer in (layers.Dense(units), layers.LeakyReLU(0.2), layers.BatchNormalization())
        ]
        + [layers.Dense(28 * 28, activation="tanh"), layers.Reshape((28, 28))]
    )
    z = np.random.default_rng(1).uniform(-1, 1, (2000, 64)).astype("float32")
    keras_images = pixels(network.predict(z, verbose=0)).astype(float)
    judge_images = judge._untrained_generator_images(z, np.random.default_rng(2)).astype(float)
    for statistic in (np.mean, np.std, lambda x: np.std(x, axis=0).mean()):
        assert np.isclose(statistic(judge_images), statistic(keras_images), rtol=0.1)


def _far_closer_results(ctx, shift_generated, shift_epoch_first):
    """Features (the classifier's "features" runs) of sets of images, each a Gaussian cloud shifted by ``shift`` from
    the reference images': the generator's images of the judge's latent vectors ``shift_generated`` away, the
    judge's untrained generator 3 away (d_F^2 about 600), random pixels 10 away, and what the student put in
    epoch_samples[0] ``shift_epoch_first`` away."""
    n, n_quality = PARAMS["N_FD"], len(ctx.sent["z_quality"])
    rng = np.random.default_rng(11)

    def cloud(shift, size=n):
        return rng.normal(size=(size, 64)) + shift

    r = _results()
    outputs = generator(ctx.sent["z_quality"])
    r |= {"quality_outputs": outputs, "generator_quality": outputs, "f_ref": cloud(0), "f_train": cloud(0)}
    r |= {"f_untrained": cloud(3), "f_noise": cloud(10), "f_fresh": cloud(shift_generated, n_quality)}
    r |= {"f_generated": cloud(shift_generated), "f_epoch_first": cloud(shift_epoch_first)}
    return r


def test_training_is_measured_against_the_judges_untrained_generator_not_epoch_samples(prepared):
    """A generator not 3x closer to the real images than an untrained one fails, however far the student's
    epoch_samples[0] (random pixels, say) is from them; a trained one passes, whatever epoch_samples[0] holds."""
    ctx = prepared[1]
    check = judge.generator_is_far_closer_to_real_images_than_noise
    for shift_epoch_first in (3, 10, 30):
        check(_far_closer_results(ctx, 1.0, shift_epoch_first), ctx)
        with pytest.raises(AssertionError, match="untrained generator of the page's recipe by 3x"):
            check(_far_closer_results(ctx, 2.5, shift_epoch_first), ctx)


def clothes(z):
    """A generator whose images are as bright and as varied as the real ones (mean pixel value about 75)."""
    return np.tanh(2 * np.asarray(z) @ WEIGHTS - 0.8).reshape(len(z), 28, 28).astype("float32")


def corner_generator(z):
    """A generator that draws such images only in the corner z_0 < -0.8 of the latent space, and the same blank
    image everywhere else (90 % of the prior)."""
    z = np.asarray(z)
    return np.where((z[:, 0] < -0.8)[:, None, None], clothes(z), -1.0).astype("float32")


def classify(x):
    """A stand-in for the saved classifier: the class is the brightest of the first ten pixels."""
    x = np.asarray(x).reshape(len(x), -1)[:, :10]
    return np.exp(20 * x) / np.exp(20 * x).sum(axis=1, keepdims=True)


def _cherry_results(ctx, network, sample):
    """What a notebook returns whose saved generator is ``network`` and whose sample_latent(1000, rng) is
    ``sample(rng)``; the runs are made as the clean sandbox makes them, from the declared sources."""
    exercise = checks.load("18_1_fashion_gan")
    z = sample(np.random.default_rng(7))
    r = {"latent_fresh": z, "generate_fresh": pixels(network(z))}
    r["quality_outputs"] = network(ctx.sent["z_quality"])  # generator.predict(inputs['z_quality'])
    for run in ("generator_fresh", "generator_quality", "p_fresh"):
        model, source = exercise.runs[run][:2]
        x = source(r, ctx) if callable(source) else ctx.sent[source]
        r[run] = network(x) if model == "generator" else classify(x)
    return r


def _corner(rng):
    """sample_latent's cherry-picked vectors: uniform, but only from the corner where the generator is good."""
    z = rng.uniform(-1, 1, (20_000, PARAMS["LATENT"])).astype("float32")
    return z[z[:, 0] < -0.8][:1000]


def test_cherry_picked_latent_vectors_do_not_change_the_quality_figures(prepared):
    """A generator good only in a corner of the latent space, and a sample_latent that draws from that corner:
    generate is the saved generator's images of sample_latent's vectors (the tie holds), and those images would pass
    (bright and varied enough, ten classes); the criteria are judged on the judge's own latent vectors and fail."""
    ctx = prepared[1]
    cherry = _cherry_results(ctx, corner_generator, _corner)
    judge._generated(cherry, "generate_fresh", "generator_fresh", 1000)
    shown = cherry["generate_fresh"].astype(float)
    assert abs(shown.mean() - ctx.kept["real_mean"]) < 0.3 * ctx.kept["real_mean"]
    shown_fractions = judge._fractions(classify(shown / 127.5 - 1.0), 1000)
    assert shown_fractions.max() < 0.4 and np.sum(shown_fractions >= 0.02) >= 6
    honest = _cherry_results(ctx, corner_generator, lambda rng: latent(1000, 7))
    for run in ("generator_quality", "p_fresh"):
        assert np.array_equal(cherry[run], honest[run])  # the student's vectors do not enter the quality runs
    with pytest.raises(AssertionError, match="mean pixel value of generated images"):
        judge.generated_images_look_like_clothes(cherry, ctx)
    with pytest.raises(AssertionError, match="no class above 40 %"):
        judge.no_mode_collapse_on_fresh_latent_vectors(cherry, ctx)
    good = _cherry_results(ctx, clothes, _corner)  # a generator good everywhere passes, whatever sample_latent does
    judge.generated_images_look_like_clothes(good, ctx)
    judge.no_mode_collapse_on_fresh_latent_vectors(good, ctx)


def test_quality_outputs_that_are_not_the_saved_generators_fail(prepared):
    ctx = prepared[1]
    r = _cherry_results(ctx, generator, _corner)
    r["quality_outputs"] = corner_generator(np.abs(ctx.sent["z_quality"]))
    for check in (judge.generated_images_look_like_clothes, judge.no_mode_collapse_on_fresh_latent_vectors):
        with pytest.raises(AssertionError, match=r"generator.predict\(z\) in the notebook"):
            check(r, ctx)


def test_a_generator_that_picks_stored_fashion_mnist_images_fails_as_a_copy(prepared):
    """A red team's "generator": the latent vector's largest component picks one of 64 stored images (softmax of
    1000 z into a Dense layer holding them). Bright, varied and spread over the classes, but every image a copy; the
    same images under strong pixel noise (far from any stored image, as a GAN's blurry ones are) pass."""
    ctx = prepared[1]
    stored = ctx.kept["all_images"][np.random.default_rng(2).choice(len(ctx.kept["all_images"]), PARAMS["LATENT"])]

    def memorised(z):
        return (stored[np.argmax(np.asarray(z), axis=1)] / 127.5 - 1.0).astype("float32")

    copies = _cherry_results(ctx, memorised, lambda rng: latent(1000, 7))
    with pytest.raises(AssertionError, match="not copies of Fashion-MNIST images"):
        judge.generated_images_look_like_clothes(copies, ctx)

    def noisy(z):
        picked = stored[np.argmax(np.asarray(z), axis=1)].astype(float)
        noisy = picked + np.random.default_rng(3).normal(0, 60, picked.shape)
        return (np.clip(noisy, 0, 255) / 127.5 - 1.0).astype("float32")

    judge.generated_images_look_like_clothes(_cherry_results(ctx, noisy, lambda rng: latent(1000, 7)), ctx)
