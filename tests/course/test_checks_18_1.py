"""The judge of 18.1: generate must be the saved generator, and every feature comes from the saved classifier.

No network is trained: the "generator" below is a fixed random map of the latent vectors to images, and the
clean sandbox's outputs are made from it as the saved network's would be.
"""

from __future__ import annotations

import numpy as np
import pytest

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
    z_fd, z_fresh, z_fresh_fd = latent(n, 0), latent(1000, seed_fresh), latent(n, seed_fresh)
    return {
        "latent_fd": z_fd,
        "latent_fresh": z_fresh,
        "latent_fresh_fd": z_fresh_fd,
        "generated_fd": pixels(generator(z_fd)),
        "generate_fresh": pixels(generator(z_fresh)),
        "generate_fresh_fd": pixels(generator(z_fresh_fd)),
        # what the clean sandbox returns for the saved generator on those latent vectors
        "generator_fd": generator(z_fd),
        "generator_fresh": generator(z_fresh),
        "generator_fresh_fd": generator(z_fresh_fd),
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
    r["generate_fresh"], r["generated_fd"], r["generate_fresh_fd"] = other, other[: PARAMS["N_FD"]], other[-300:]
    r["epoch_samples_first"] = other[: PARAMS["N_FD"]]
    r["fd_per_epoch"] = np.zeros(PARAMS["EPOCHS"] + 1)
    with pytest.raises(AssertionError, match="generate"):
        check(r, _ctx())


def test_every_feature_and_class_probability_comes_from_the_saved_classifier():
    exercise = checks.load("18_1_fashion_gan")
    layers = exercise.run_layers["classifier"]
    assert set(layers.values()) == {"features"}
    assert {"layer_check", "f_ref", "f_train", "f_generated", "f_fresh", "f_epoch_first", "f_epoch_last"} <= set(layers)
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
