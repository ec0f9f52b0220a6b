"""Runs *inside* a second sandbox (copied to ``/grader/run_model.py``): load the student's saved models, run them.

Stand-alone on purpose, like ``_runner.py``. No student code is in this sandbox: only the ``.keras`` files the
student's notebook saved (``/grader/models/<name>.keras``, already audited by the judge, see
:func:`dlphys.course.models.audit`), the judge's inputs for them (``inputs``, an ``.npz`` by file descriptor:
``<model>/<set>/<input name>`` for named inputs, ``<model>/<set>/#<i>`` for positional ones, ``<model>/<set>`` for
one input) and what to run (``spec``: model -> list of input sets, model -> {set: layer} for the sets that
want the outputs of a named layer, and model -> {set: attack} for the sets the judge attacks first). Each model is
loaded with ``safe_mode=True`` and only Keras's and dlphys's registered classes, and run with ``predict``. An
attacked set holds the images ``x`` and their labels ``y`` (named inputs); the model is run on the judge's own
attack of them (:data:`ATTACKS`: ``{"attack": "pgd", "eps": ..., "steps": ..., "step": ..., "seed": 0,
"from_logits": False}``), computed here on the saved model, never by student code. What comes back (``results``:
JSON, ``arrays``: ``.npz``) is each model's layers (name, class), its outputs per input set and
the error of each run that failed (``run_errors``), or the error that stopped the whole model.
"""

import io
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

GRADER = Path(os.environ["DLPHYS_GRADER_DIR"])


def _read_channel(name: str) -> bytes:
    fd = os.environ.pop(f"DLPHYS_{name.upper()}_FD", None)
    if fd is not None:
        with os.fdopen(int(fd), "rb") as handle:
            return handle.read()
    return Path(os.environ.pop(f"DLPHYS_{name.upper()}_PATH")).read_bytes()


def _write_channel(name: str, data: bytes) -> None:
    fd = os.environ.pop(f"DLPHYS_{name.upper()}_FD", None)
    if fd is not None:
        os.ftruncate(int(fd), 0)
        os.pwrite(int(fd), data, 0)
        return
    path = Path(os.environ.pop(f"DLPHYS_{name.upper()}_PATH"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _inputs(flat: dict, model: str, name: str):
    prefix = f"{model}/{name}"
    if prefix in flat:
        return flat[prefix]
    named = {key[len(prefix) + 1 :]: value for key, value in flat.items() if key.startswith(prefix + "/")}
    if named and all(key.startswith("#") for key in named):  # positional inputs
        return [named[f"#{i}"] for i in range(len(named))]
    return named


def _register_stand_ins(keras) -> None:
    """The sandbox's own stand-ins (``models.GRADER_LAYERS``): layers a page has the student write, computed here."""

    @keras.saving.register_keras_serializable(package="dlphys_grader", name="AlwaysOnDropout")
    class AlwaysOnDropout(keras.layers.Dropout):
        """Dropout at prediction too: Monte Carlo dropout."""

        def call(self, inputs, training=None):
            return super().call(inputs, training=True)


def _input_gradient(model, x, y, from_logits: bool) -> np.ndarray:
    """∂L/∂x of the cross-entropy of the model's outputs (probabilities, or logits) at integer labels ``y``."""
    import keras
    import tensorflow as tf

    grads = []
    for i in range(0, len(x), 1024):
        t = tf.convert_to_tensor(x[i : i + 1024])
        with tf.GradientTape() as tape:
            tape.watch(t)
            out = model(t, training=False)
            loss = keras.losses.sparse_categorical_crossentropy(y[i : i + 1024], out, from_logits=from_logits)
        grads.append(tape.gradient(loss, t, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy())
    return np.concatenate(grads)


def pgd(model, x, y, eps, steps, step, seed=0, from_logits=False) -> np.ndarray:
    """Projected gradient descent in L∞: a uniform random start in the ε-ball (``default_rng(seed)``), then
    ``steps`` steps of ``step`` · sign ∇ₓL, each projected back into the ε-ball around ``x`` and into [0, 1]."""
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y, dtype="int64")
    adv = np.clip(x + np.random.default_rng(seed).uniform(-eps, eps, x.shape), 0.0, 1.0).astype("float32")
    for _ in range(int(steps)):
        adv = adv + step * np.sign(_input_gradient(model, adv, y, bool(from_logits)))
        adv = np.clip(np.clip(adv, x - eps, x + eps), 0.0, 1.0).astype("float32")
    return adv


ATTACKS = {"pgd": pgd}
"""The judge's own attacks: name -> ``f(model, x, y, **parameters)``, the attacked images."""


def _store(out, arrays: dict) -> dict:
    """Put a model's output (an array, a dict of heads or a list) into ``arrays``; its reference for the JSON."""
    if isinstance(out, dict):
        keys = {}
        for head, value in out.items():
            arrays[key := f"a{len(arrays)}"] = np.asarray(value)
            keys[str(head)] = key
        return {"dict": keys}
    if isinstance(out, (list, tuple)):
        keys = []
        for value in out:
            arrays[key := f"a{len(arrays)}"] = np.asarray(value)
            keys.append(key)
        return {"list": keys}
    arrays[key := f"a{len(arrays)}"] = np.asarray(out)
    return {"array": key}


def main() -> int:
    spec = json.loads(_read_channel("spec"))
    with np.load(io.BytesIO(_read_channel("inputs")), allow_pickle=False) as data:
        flat = {key: data[key] for key in data.files}
    import keras

    import dlphys.layers  # noqa: F401 (registers the course's own serialisable layers)

    _register_stand_ins(keras)

    meta: dict = {}
    arrays: dict = {}
    for model_name, sets in spec["models"].items():
        entry: dict = {}
        try:
            model = keras.saving.load_model(GRADER / "models" / f"{model_name}.keras", compile=False, safe_mode=True)
            entry["layers"] = [[layer.name, type(layer).__name__] for layer in model.layers]
            entry["outputs"], entry["run_errors"] = {}, {}
            wanted = spec.get("layers", {}).get(model_name, {})
            attacks = spec.get("attacks", {}).get(model_name, {})
            parts = {}  # layer name -> the model up to that layer
            for set_name in sets:
                try:  # a run that fails (a missing layer, inputs of the wrong shape) costs that run only
                    run = model
                    if set_name in wanted:
                        layer = wanted[set_name]
                        if layer not in parts:
                            parts[layer] = keras.Model(model.inputs, model.get_layer(layer).output)
                        run = parts[layer]
                    data = _inputs(flat, model_name, set_name)
                    if set_name in attacks:  # the judge's attack of the images x with labels y, on this model
                        parameters = dict(attacks[set_name])
                        data = ATTACKS[parameters.pop("attack")](model, data["x"], data["y"], **parameters)
                    out = run.predict(data, batch_size=1024, verbose=0)
                    entry["outputs"][set_name] = _store(out, arrays)
                except Exception as exc:
                    entry["run_errors"][set_name] = f"{type(exc).__name__}: {exc}"[:500]
                    traceback.print_exc()
        except Exception as exc:  # whatever stops a model is its own verdict
            entry = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            traceback.print_exc()
        meta[model_name] = entry
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _write_channel("arrays", buffer.getvalue())
    _write_channel("results", json.dumps(meta).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
