"""A student's saved model, judged without the student's code: the audit of the archive and the clean sandbox."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from dlphys.course import models
from dlphys.course import sandbox as sb
from dlphys.layers import PeriodicPadding2D

ROOT = Path(__file__).resolve().parents[2]
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def _saved(model, tmp_path, name="m.keras"):
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def _two_heads(seed=1):
    keras.utils.set_random_seed(seed)
    inputs = {"a": keras.Input((4,), name="a"), "b": keras.Input((2,), name="b")}
    h = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([inputs["a"], inputs["b"]]))
    outputs = {"x": keras.layers.Dense(3, name="x")(h), "y": keras.layers.Dense(1, name="y")(h)}
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss={"x": "mse", "y": "mse"}, loss_weights={"x": 1.0, "y": 2.0})
    return model


def _rewritten(data, change):
    """``data`` (a .keras archive) with its config.json changed by ``change(config)``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def test_a_plain_keras_model_passes_the_audit_without_its_compile_configuration(tmp_path):
    data = _saved(_two_heads(), tmp_path)
    audited = models.audit(data)
    with zipfile.ZipFile(io.BytesIO(audited)) as archive:
        config = json.loads(archive.read("config.json"))
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    assert "compile_config" not in config and config["class_name"] == "Functional"


def test_the_course_layers_pass_the_audit(tmp_path):
    inputs = keras.Input((6, 6, 1))
    model = keras.Model(inputs, keras.layers.Flatten()(PeriodicPadding2D(1)(inputs)))
    models.audit(_saved(model, tmp_path))


def test_code_in_the_model_is_refused(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: 2 * t)(inputs))
    with pytest.raises(models.ModelRefused, match="Lambda"):
        models.audit(_saved(model, tmp_path))


@keras.saving.register_keras_serializable(package="notebook")
class _Doubling(keras.layers.Layer):
    def call(self, x):
        return 2 * x


def test_a_class_defined_in_the_notebook_is_refused(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, _Doubling()(inputs))
    with pytest.raises(models.ModelRefused, match="cannot be loaded without running its code"):
        models.audit(_saved(model, tmp_path))


def test_a_subclassed_model_that_overrides_predict_is_refused(tmp_path):
    """The red team's cheat: a model class whose ``predict`` returns anything it likes."""

    class Cheat(keras.Model):
        def predict(self, *args, **kwargs):
            return {"x": 0}

    inputs = keras.Input((3,))
    model = Cheat(inputs, keras.layers.Dense(1)(inputs))
    with pytest.raises(models.ModelRefused, match="cannot be loaded"):
        models.audit(_saved(model, tmp_path))


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c: c["config"]["layers"][1].update(module="os", class_name="system"), "from 'os'"),
        (lambda c: c["config"]["layers"][1].update(class_name="TFSMLayer"), "TFSMLayer"),
        (lambda c: c.update(module=None, class_name="_Oracle"), "_Oracle"),
        (lambda c: c["config"]["layers"][1].update(module=None, class_name="__lambda__"), "__lambda__"),
        (lambda c: c["config"]["layers"][1]["config"].update(function={"class_name": "x"}), "function"),
        (
            lambda c: c["config"]["layers"][1].update(
                module="keras.config", class_name="function", config="enable_unsafe_deserialization"
            ),
            "function",
        ),
    ],
)
def test_a_hand_made_configuration_that_would_run_code_is_refused(tmp_path, change, match):
    data = _rewritten(_saved(_two_heads(), tmp_path), change)
    with pytest.raises(models.ModelRefused, match=match):
        models.audit(data)


def test_what_is_not_a_keras_archive_is_refused(tmp_path):
    data = _saved(_two_heads(), tmp_path)
    for bad, match in [
        (b"", "no saved model"),
        (b"PK\x03\x04 not a zip", "not a readable"),
        (data[: len(data) // 2], "not a readable"),
    ]:
        with pytest.raises(models.ModelRefused, match=match):
            models.audit(bad)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, source.read(name))
        archive.writestr("assets/vocabulary.txt", "/etc/passwd")
    with pytest.raises(models.ModelRefused, match=r"expected a \.keras archive"):
        models.audit(out.getvalue())


@pytest.mark.skipif(os.environ.get("DLPHYS_SKIP_SANDBOX") == "1", reason="DLPHYS_SKIP_SANDBOX=1: no sandbox here")
def test_the_clean_sandbox_gives_the_models_own_outputs_and_the_reasons_of_the_others(tmp_path):
    model = _two_heads()
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(size=(50, 4)).astype("float32"), "b": rng.normal(size=(50, 2)).astype("float32")}
    x2 = {k: v[:7] for k, v in x.items()}
    inputs = keras.Input((3,))
    refused = keras.Model(inputs, keras.layers.Lambda(lambda t: t)(inputs))
    archives = {"good": _saved(model, tmp_path, "good.keras"), "bad": _saved(refused, tmp_path, "bad.keras")}
    archives["broken"] = archives["good"]
    wanted = {"good": {"one": x, "two": x2}, "bad": {"one": x["a"][:, :3]}, "broken": {"one": {"a": x["a"]}}}
    box = sb.default_sandbox([ROOT / "data"])
    entries, seconds = models.evaluate(archives, wanted, tmp_path / "work", box, sb.Limits(wall=120), ENV)
    assert seconds > 0
    good = entries["good"]
    assert ("x", "Dense") in good["layers"] and ("y", "Dense") in good["layers"]
    expected = model.predict(x, verbose=0)
    for head in ("x", "y"):
        np.testing.assert_allclose(good["outputs"]["one"][head], expected[head], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(good["outputs"]["two"][head], expected[head][:7], rtol=1e-5, atol=1e-6)
    assert "Lambda" in entries["bad"]["error"]
    broken = entries["broken"]  # input "b" is missing: that run fails, the model itself loaded
    assert "one" not in broken["outputs"] and "b" in broken["run_errors"]["one"]


class _Zeroing(keras.constraints.Constraint):  # a notebook's own constraint, as 8.2's HexagonalKernel
    def __call__(self, w):
        return w * 0.5


def test_constraints_and_regularizers_act_only_in_training_and_are_dropped(tmp_path):
    inputs = keras.Input((3,))
    layer = keras.layers.Dense(2, kernel_constraint=_Zeroing(), kernel_regularizer="l2")
    model = keras.Model(inputs, layer(inputs))
    audited = models.audit(_saved(model, tmp_path))
    with zipfile.ZipFile(io.BytesIO(audited)) as archive:
        config = json.loads(archive.read("config.json"))
    dense = config["config"]["layers"][1]["config"]
    assert dense["kernel_constraint"] is None and dense["kernel_regularizer"] is None
    (tmp_path / "audited.keras").write_bytes(audited)
    loaded = keras.saving.load_model(tmp_path / "audited.keras", safe_mode=True)  # without the notebook's class
    x = np.ones((4, 3), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


class GradientReversal(keras.layers.Layer):  # a student's layer, as the page of 19.1 has it written
    def call(self, x):
        return 1000.0 * x  # whatever the student's forward pass does, the judge runs its stand-in


def test_a_stand_in_replaces_a_students_layer_by_the_keras_layer_of_its_forward_pass(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="label")(GradientReversal(name="grl")(inputs)))
    data = _saved(model, tmp_path)
    with pytest.raises(models.ModelRefused, match="GradientReversal"):
        models.audit(data)
    audited = models.audit(data, {"GradientReversal": "Identity"})
    (tmp_path / "audited.keras").write_bytes(audited)
    loaded = keras.saving.load_model(tmp_path / "audited.keras", safe_mode=True)
    assert [type(layer).__name__ for layer in loaded.layers] == ["InputLayer", "Identity", "Dense"]
    x = np.ones((2, 3), dtype="float32")
    dense = model.get_layer("label")
    expected = x @ keras.ops.convert_to_numpy(dense.kernel) + keras.ops.convert_to_numpy(dense.bias)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)


def test_a_run_can_ask_for_the_outputs_of_a_named_layer(tmp_path):
    """18.1's Fréchet distances need the activations of the classifier's layer "features", computed in the clean
    sandbox like the model's own outputs; a layer the model lacks fails that run only, not the model's others."""
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(6, activation="relu", name="features"), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(4).normal(size=(20, 5)).astype("float32")
    archives = {"m": _saved(model, tmp_path, "m.keras")}
    archives["other"] = archives["m"]
    wanted = {"m": {"out": x, "feat": x}, "other": {"feat": x, "out": x}}
    layers = {"m": {"feat": "features"}, "other": {"feat": "no_such_layer"}}
    box = sb.default_sandbox([ROOT / "data"])
    entries, _ = models.evaluate(archives, wanted, tmp_path / "work", box, sb.Limits(wall=120), ENV, layers=layers)
    features = keras.Model(model.inputs, model.get_layer("features").output).predict(x, verbose=0)
    np.testing.assert_allclose(entries["m"]["outputs"]["feat"], features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(entries["m"]["outputs"]["out"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert "no_such_layer" in entries["other"]["run_errors"]["feat"] and "feat" not in entries["other"]["outputs"]
    np.testing.assert_allclose(entries["other"]["outputs"]["out"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


class AlwaysDropout(keras.layers.Dropout):  # a notebook's own Monte Carlo dropout, as 13.3's
    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def test_a_crafted_archive_is_refused_alone_and_never_stops_the_grader(tmp_path):
    """What an archive's reader raises (a config nested thousands deep, a zip member in a method Python cannot
    unpack) is that model's refusal, not an exception that ends the grading of the whole class."""
    data = _saved(_two_heads(), tmp_path)
    deep = _rewritten(data, lambda c: c["config"].update(extra="[" * 5000 + "]" * 5000))
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {name: source.read(name) for name in source.namelist()}
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as archive:
        for name, content in members.items():
            deep_json = b'{"config": ' + b"[" * 5000 + b"]" * 5000 + b"}"
            archive.writestr(name, deep_json if name == "config.json" else content)
    odd = io.BytesIO()
    with zipfile.ZipFile(odd, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    raw = bytearray(odd.getvalue())
    for offset in range(len(raw) - 4):  # every member's compression method -> 99 (AES), which zipfile cannot read
        if raw[offset : offset + 4] in (b"PK\x03\x04", b"PK\x01\x02"):
            at = offset + (8 if raw[offset + 2] == 3 else 10)
            raw[at : at + 2] = (99).to_bytes(2, "little")
    models.audit(deep)  # a long string is only a string
    for bad in (nested.getvalue(), bytes(raw)):
        with pytest.raises(models.ModelRefused):
            models.audit(bad)


def test_the_sandboxs_own_layers_pass_only_where_the_exercise_stands_them_in(tmp_path):
    model = keras.Sequential([keras.Input((3,)), AlwaysDropout(0.1, name="mc"), keras.layers.Dense(1)])
    named = _rewritten(
        _saved(model, tmp_path),
        lambda c: c["config"]["layers"][1].update(
            module=models.GRADER_MODULE, class_name="AlwaysOnDropout", registered_name=None
        ),
    )
    with pytest.raises(models.ModelRefused, match="AlwaysOnDropout"):
        models.audit(named)
    models.audit(named, {"AlwaysDropout": "AlwaysOnDropout"})


def test_the_sandboxs_own_always_on_dropout_stands_in_for_the_students(tmp_path):
    """13.3's AlwaysDropout is run as the sandbox's AlwaysOnDropout, with the student's rate: identical inputs get
    different outputs (dropout on at prediction), with the spread of that rate."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((4,))
    h = AlwaysDropout(0.5, name="mc")(keras.layers.Dense(64, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)(h))
    data = _saved(model, tmp_path)
    with pytest.raises(models.ModelRefused, match="AlwaysDropout"):
        models.audit(data)
    config = json.loads(
        zipfile.ZipFile(io.BytesIO(models.audit(data, {"AlwaysDropout": "AlwaysOnDropout"}))).read("config.json")
    )
    mc = next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "mc")
    assert mc["class_name"] == "AlwaysOnDropout" and mc["config"]["rate"] == 0.5
    x = np.tile(np.random.default_rng(6).normal(size=(1, 4)).astype("float32"), (400, 1))
    box = sb.default_sandbox([ROOT / "data"])
    entries, _ = models.evaluate(
        {"m": data},
        {"m": {"x": x}},
        tmp_path / "work",
        box,
        sb.Limits(wall=120),
        ENV,
        {"AlwaysDropout": "AlwaysOnDropout"},
    )
    out = entries["m"]["outputs"]["x"][:, 0]
    full = float(keras.ops.convert_to_numpy(model.layers[1](x[:1])).sum())  # the sum of the hidden units, no dropout
    assert out.std() > 0.05 * abs(full)  # dropout on: identical inputs, different outputs
    assert abs(out.mean() - full) < 0.15 * abs(full)  # Dropout rescales by 1/(1 - rate): the mean is kept


def test_every_stand_in_the_sandbox_defines_is_named_for_the_students():
    from dlphys.course import notebooks

    assert set(notebooks.GRADER_STAND_INS) == set(models.GRADER_LAYERS)


def _pages_pgd(model, x, y, eps, steps, seed=0):
    """13.4's PGD as its page writes it (the solution's ``pgd``)."""
    import tensorflow as tf

    step = 2.5 * eps / steps
    adv = np.clip(x + np.random.default_rng(seed).uniform(-eps, eps, x.shape), 0.0, 1.0).astype("float32")
    for _ in range(steps):
        t = tf.convert_to_tensor(adv)
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = keras.losses.sparse_categorical_crossentropy(y, model(t, training=False))
        adv = adv + step * np.sign(tape.gradient(loss, t).numpy())
        adv = np.clip(np.clip(adv, x - eps, x + eps), 0.0, 1.0).astype("float32")
    return adv


@pytest.mark.skipif(os.environ.get("DLPHYS_SKIP_SANDBOX") == "1", reason="DLPHYS_SKIP_SANDBOX=1: no sandbox here")
def test_the_clean_sandbox_attacks_a_saved_network_with_its_own_pgd(tmp_path):
    """13.4's robust accuracy is measured with the judge's PGD, made in the clean sandbox on the saved network: it
    brings an ordinary classifier (94 % on held-out inputs) down to 14 %, the outputs on the page's PGD computed here;
    an attack of unknown parameters fails that run only."""
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(1200, 16)).astype("float32")
    y = np.argmax((x - 0.5) @ rng.normal(size=(16, 3)), axis=1)
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x[:1000], y[:1000], epochs=20, batch_size=50, verbose=0)
    x, y = x[1000:], y[1000:]
    pgd = {"attack": "pgd", "eps": 0.1, "steps": 10, "step": 0.025, "seed": 0}
    wanted = {"m": {"clean": x, "pgd": {"x": x, "y": y}, "bad": {"x": x, "y": y}}}
    layers = {"m": {"pgd": pgd, "bad": {"attack": "pgd", "eps": 0.1, "strength": 3}}}
    box = sb.default_sandbox([ROOT / "data"])
    entries, _ = models.evaluate(
        {"m": _saved(model, tmp_path)}, wanted, tmp_path / "work", box, sb.Limits(wall=120), ENV, layers=layers
    )
    outputs = entries["m"]["outputs"]
    clean, attacked = (float(np.mean(np.argmax(outputs[k], axis=1) == y)) for k in ("clean", "pgd"))
    assert clean > 0.9 and attacked < clean - 0.5
    expected = model.predict(_pages_pgd(model, x, y, 0.1, 10), verbose=0)
    np.testing.assert_allclose(outputs["pgd"], expected, rtol=1e-4, atol=1e-5)
    assert "strength" in entries["m"]["run_errors"]["bad"] and "bad" not in outputs
