"""The fast-mode switch, data directories and seeding."""

import os
import subprocess
import sys

import numpy as np
import pytest

from dlphys import config


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_switch_reads_dlphys_fast(monkeypatch, value, expected):
    monkeypatch.setenv("DLPHYS_FAST", value)
    assert config.fast_mode() is expected
    assert config.pick(full="full", fast="fast") == ("fast" if expected else "full")


def test_unset_fast_switch_means_full_mode(monkeypatch):
    monkeypatch.delenv("DLPHYS_FAST", raising=False)
    assert config.fast_mode() is False


def test_unknown_fast_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DLPHYS_FAST", "maybe")
    with pytest.raises(ValueError, match="DLPHYS_FAST=1"):
        config.fast_mode()


def test_data_dir_follows_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("DLPHYS_DATA_DIR", str(tmp_path / "somewhere"))
    assert config.data_dir() == tmp_path / "somewhere"
    assert config.data_dir().is_dir()


def test_data_dir_defaults_to_checkout_data_folder(monkeypatch):
    monkeypatch.delenv("DLPHYS_DATA_DIR", raising=False)
    assert config.data_dir() == config._checkout_root() / "data"


def test_mirror_dirs_split_on_pathsep(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv("DLPHYS_MIRROR", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}{os.pathsep}")
    assert config.mirror_dirs() == [tmp_path / "a", tmp_path / "b"]


def test_seed_everything_makes_numpy_and_keras_repeat():
    import keras

    def draw():
        rng = config.seed_everything(7)
        legacy = np.random.rand(2)  # noqa: NPY002 -- seed_everything must seed the legacy global generator too
        return rng.normal(size=3), legacy, keras.random.normal((3,), seed=None).numpy()

    first, second = draw(), draw()
    for a, b in zip(first, second, strict=False):
        np.testing.assert_array_equal(a, b)


def test_importing_dlphys_quiets_tensorflow_cpp_logs_unless_the_user_chose():
    code = "import os, dlphys; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    chosen = subprocess.run(
        [sys.executable, "-c", code],
        env=env | {"TF_CPP_MIN_LOG_LEVEL": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (quiet.stdout.strip(), chosen.stdout.strip()) == ("3", "0")
