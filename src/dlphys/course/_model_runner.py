"""Runs *inside* a second sandbox (copied to ``/grader/run_model.py``): load the student's saved models, run them.

Stand-alone on purpose, like ``_runner.py``. No student code is in this sandbox: only the ``.keras`` files the
student's notebook saved (``/grader/models/<name>.keras``, already audited by the judge, see
:func:`dlphys.course.models.audit`), the judge's inputs for them (``inputs``, an ``.npz`` by file descriptor:
``<model>/<set>/<input name>`` for named inputs, ``<model>/<set>/#<i>`` for positional ones, ``<model>/<set>`` for
one input) and what to run (``spec``: model -> list of input sets, and model -> {set: layer} for the sets that
want the outputs of a named layer). Each model is loaded with ``safe_mode=True`` and only Keras's and dlphys's
registered classes, and run with ``predict``. What comes back (``results``: JSON,
``arrays``: ``.npz``) is each model's layers (name, class), its outputs per input set, or the error that stopped it.
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
            entry["outputs"] = {}
            wanted = spec.get("layers", {}).get(model_name, {})
            parts = {}  # layer name -> the model up to that layer
            for set_name in sets:
                run = model
                if set_name in wanted:
                    layer = wanted[set_name]
                    if layer not in parts:
                        parts[layer] = keras.Model(model.inputs, model.get_layer(layer).output)
                    run = parts[layer]
                out = run.predict(_inputs(flat, model_name, set_name), batch_size=1024, verbose=0)
                if isinstance(out, dict):
                    keys = {}
                    for head, value in out.items():
                        key = f"a{len(arrays)}"
                        arrays[key] = np.asarray(value)
                        keys[str(head)] = key
                    entry["outputs"][set_name] = {"dict": keys}
                elif isinstance(out, (list, tuple)):
                    keys = []
                    for value in out:
                        arrays[key := f"a{len(arrays)}"] = np.asarray(value)
                        keys.append(key)
                    entry["outputs"][set_name] = {"list": keys}
                else:
                    arrays[key := f"a{len(arrays)}"] = np.asarray(out)
                    entry["outputs"][set_name] = {"array": key}
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
