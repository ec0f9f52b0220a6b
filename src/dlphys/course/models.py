"""A student's Keras model, judged without the student's code: saved in the sandbox, run in a second, clean one.

A check built on ``model.predict`` evaluated in the student's kernel trusts the student's code: a model class that
overrides ``predict`` can return anything. So an exercise can declare models
(``Exercise(..., models={"model": "model"})``): after the notebook has run, each is saved as a ``.keras`` file in
the sandbox and comes back as bytes. The judge then

1. audits the archive (:func:`audit`): only ``config.json``, ``metadata.json`` and ``model.weights.h5``; in the
   configuration only classes of Keras's own modules and of ``dlphys.layers``, none of those that run code or read
   files (``Lambda``, ``TFSMLayer``, lookup layers' vocabulary files, bare functions); the compile configuration
   (loss functions) and what acts only in training (constraints, regularizers) are dropped, the network's forward
   pass is all that is judged; a class without a module (one defined in the
   notebook) is refused too, except Keras's own markers (``__keras_tensor__``, ``__numpy__``, ...);
2. rebuilds the archive from what it audited, and
3. loads and runs it in a fresh sandbox (:func:`evaluate`) that holds no student code, only the rebuilt file and the
   judge's inputs, with ``safe_mode=True``. The outputs come back as arrays. A run may ask for the outputs of a
   named layer, or for the model's outputs on the judge's own attack of its inputs (PGD, computed in that sandbox
   on the saved model: an attack's strength is then never the student's).

The judge computes the inputs itself (for example from events it simulated, whose truth never enters a sandbox), so
a model is scored on data its author never saw, by code its author never touched.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from dlphys.course import sandbox as sb

MAX_ARCHIVE = 256 << 20
"""Largest ``.keras`` file accepted (bytes)."""
MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
FORBIDDEN_CLASSES = {"Lambda", "TFSMLayer", "function", "StringLookup", "IntegerLookup", "TextVectorization"}
ALLOWED_MODULES = ("keras", "dlphys.layers")
GRADER_MODULE = "dlphys_grader"
GRADER_LAYERS = {"AlwaysOnDropout": ("rate", "noise_shape", "seed")}
"""Stand-ins the clean sandbox defines itself (``_model_runner.py``), with the configuration keys they keep:
``AlwaysOnDropout`` is ``keras.layers.Dropout`` applied at prediction too (13.3's Monte Carlo dropout)."""
HERE = Path(__file__).resolve().parent


class ModelRefused(ValueError):
    """The saved model cannot be judged (not a ``.keras`` archive, or it holds what the judge will not load)."""


def _inference_only(node) -> None:
    """Drop what acts only in training (constraints, regularizers): a notebook's own constraint class then loads."""
    if isinstance(node, dict):
        for key in list(node):
            if key.endswith(("_constraint", "_regularizer")) and node[key] is not None:
                node[key] = None
            else:
                _inference_only(node[key])
    elif isinstance(node, list):
        for value in node:
            _inference_only(value)


def _walk(node, path: str = "config", grader_layers: frozenset = frozenset()) -> None:
    """Refuse what the judge will not load; ``grader_layers``: the clean sandbox's own layers this exercise's
    ``stand_ins`` put in (no other model may name them)."""
    if isinstance(node, dict):
        if "class_name" in node:
            name, module = node.get("class_name"), node.get("module")
            if name in FORBIDDEN_CLASSES:
                raise ModelRefused(
                    f"the model holds a {name!r} ({path}): the grader loads only layers built from Keras's and "
                    "dlphys's classes, not code (write the computation with Keras layers)"
                )
            special = module is None and isinstance(name, str) and name.startswith("__") and name != "__lambda__"
            special = special or (module == GRADER_MODULE and name in grader_layers)
            if not special and not (
                isinstance(module, str) and any(module == m or module.startswith(m + ".") for m in ALLOWED_MODULES)
            ):
                raise ModelRefused(
                    f"the model uses {name!r} from {module!r} ({path}): the grader loads only classes of Keras and "
                    "dlphys.layers (a class defined in the notebook cannot be loaded without running its code)"
                )
        for key, value in node.items():
            if key in ("function", "function_type", "module_name"):
                raise ModelRefused(f"the model holds a function ({path}.{key}): the grader loads no code")
            _walk(value, f"{path}.{key}", grader_layers)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", grader_layers)


def _stand_in(node, stand_ins: dict[str, str]) -> None:
    """Replace each layer whose class is a key of ``stand_ins`` by the Keras layer class named by its value, or by
    one of the clean sandbox's own :data:`GRADER_LAYERS`.

    For a layer the page has the student write whose forward pass a Keras layer computes exactly (19.1's
    ``GradientReversal`` is the identity until gradients are taken) or the sandbox's own layer does (13.3's
    ``AlwaysDropout``): the judge runs that, never the student's class.
    """
    if isinstance(node, dict):
        if node.get("class_name") in stand_ins and isinstance(node.get("config"), dict):
            config, target = node["config"], stand_ins[node["class_name"]]
            kept = ("name", "trainable", "dtype", *GRADER_LAYERS.get(target, ()))
            node.update(
                module=GRADER_MODULE if target in GRADER_LAYERS else "keras.layers",
                class_name=target,
                registered_name=f"{GRADER_MODULE}>{target}" if target in GRADER_LAYERS else None,
                config={key: config[key] for key in kept if key in config},
            )
        for value in node.values():
            _stand_in(value, stand_ins)
    elif isinstance(node, list):
        for value in node:
            _stand_in(value, stand_ins)


def audit(data: bytes, stand_ins: dict[str, str] | None = None) -> bytes:
    """The ``.keras`` archive rebuilt from what passed the audit (see the module docs); :class:`ModelRefused` if not.

    ``stand_ins``: layer class -> the Keras layer that computes its forward pass (:func:`_stand_in`)."""
    if not isinstance(data, bytes) or not data:
        raise ModelRefused("no saved model came back (the notebook's model could not be saved)")
    if len(data) > MAX_ARCHIVE:
        raise ModelRefused(f"the saved model is {len(data) >> 20} MiB, more than {MAX_ARCHIVE >> 20} MiB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if not names <= MEMBERS or "config.json" not in names or "model.weights.h5" not in names:
                raise ModelRefused(f"expected a .keras archive of {sorted(MEMBERS)}, got {sorted(names)[:10]}")
            infos = {info.filename: info for info in archive.infolist()}
            if sum(info.file_size for info in infos.values()) > MAX_ARCHIVE:
                raise ModelRefused("the saved model unpacks to more than the grader accepts")
            config = json.loads(archive.read("config.json").decode("utf-8"))
            weights = archive.read("model.weights.h5")
            metadata = archive.read("metadata.json") if "metadata.json" in names else b"{}"
    except ModelRefused:
        raise
    except Exception as exc:  # whatever a crafted archive raises (zip method, zlib, nesting) refuses it alone
        raise ModelRefused(f"the saved model is not a readable .keras archive ({type(exc).__name__})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ModelRefused("the saved model's config.json is not a Keras model configuration")
    config.pop("compile_config", None)  # losses and metrics: not judged, and not loaded
    try:
        _inference_only(config)
        _stand_in(config, stand_ins or {})
        _walk(config, grader_layers=frozenset(GRADER_LAYERS).intersection((stand_ins or {}).values()))
    except RecursionError as exc:
        raise ModelRefused("the saved model's configuration is nested deeper than any Keras model's") from exc
    if not weights.startswith(b"\x89HDF\r\n\x1a\n"):
        raise ModelRefused("the saved model's weights are not an HDF5 file")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(_metadata(metadata)))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    return out.getvalue()


def _metadata(data: bytes) -> dict:
    """The archive's metadata.json reduced to the Keras version and date it names (strings), or nothing."""
    try:
        meta = json.loads(data.decode("utf-8")) if len(data) < 4096 else {}
    except (ValueError, UnicodeDecodeError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    return {k: meta[k] for k in ("keras_version", "date_saved") if isinstance(meta.get(k), str) and len(meta[k]) < 40}


def _flatten(prefix: str, value, flat: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}/{key}", item, flat)
    elif isinstance(value, (list, tuple)):  # a model of several positional inputs: "<set>/#0", "<set>/#1", ...
        for i, item in enumerate(value):
            flat[f"{prefix}/#{i}"] = np.asarray(item)
    else:
        flat[prefix] = np.asarray(value)


def evaluate(
    archives: dict[str, bytes],
    inputs: dict[str, dict],
    work: Path,
    box: sb.Sandbox,
    limits: sb.Limits,
    env: dict[str, str],
    stand_ins: dict[str, str] | None = None,
    layers: dict[str, dict[str, str]] | None = None,
) -> tuple[dict[str, dict], float]:
    """Run each audited archive on its input sets in a fresh sandbox; ``({model: entry}, seconds)``.

    ``inputs``: model -> {set name -> an array, a dict of arrays (named inputs) or a list of arrays (positional)}.
    ``layers``: model -> {set name -> a layer name}: for those sets the outputs of that layer, not of the model; or
    {set name -> an attack}, ``{"attack": "pgd", "eps": ε, "steps": n, "step": α}`` (and ``"seed"``, default 0,
    ``"from_logits"``, default False): that set is ``{"x": images, "y": integer labels}`` and the model is run on
    the clean sandbox's own PGD of ``x`` against it (``_model_runner.pgd``: L∞, a uniform random start, projected
    steps on the cross-entropy of the model's outputs at ``y``).
    An entry is ``{"layers": [(name, class)], "outputs": {set: array | dict | list}, "run_errors": {set: why}}``
    (a set whose run failed is in ``run_errors``, not ``outputs``) or ``{"error": why}``.
    """
    entries: dict[str, dict] = {}
    runnable: dict[str, bytes] = {}
    for name, data in archives.items():
        if name not in inputs:
            continue
        try:
            runnable[name] = audit(data, stand_ins)
        except ModelRefused as exc:
            entries[name] = {"error": str(exc)}
    if not runnable:
        return entries, 0.0
    grader, scratch, private = work / "grader", work / "scratch", work / "private"
    for path in (grader, scratch, private):
        shutil.rmtree(path, ignore_errors=True)
    (grader / "models").mkdir(parents=True)
    private.mkdir()
    os.chmod(private, 0o700)
    for name, data in runnable.items():
        (grader / "models" / f"{name}.keras").write_bytes(data)
    shutil.copyfile(HERE / "_model_runner.py", grader / "run_model.py")
    flat: dict[str, np.ndarray] = {}
    for name in runnable:
        for set_name, value in inputs[name].items():
            _flatten(f"{name}/{set_name}", value, flat)
    np.savez(private / "inputs.npz", **flat)
    how = {name: dict((layers or {}).get(name, {})) for name in runnable}
    spec = {
        "models": {name: list(inputs[name]) for name in runnable},
        "layers": {name: {k: v for k, v in how[name].items() if isinstance(v, str)} for name in runnable},
        "attacks": {name: {k: v for k, v in how[name].items() if isinstance(v, dict)} for name in runnable},
    }
    (private / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    for path in [work, grader, *grader.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    channels = sb.Channels(
        read={"spec": private / "spec.json", "inputs": private / "inputs.npz"},
        write={"results": private / "models.json", "arrays": private / "models.npz"},
    )
    outcome = box.run("run_model.py", grader, scratch, limits, dict(env), channels)
    meta = _read(private / "models.json", lambda b: json.loads(b.decode("utf-8")))
    arrays = _read(private / "models.npz", _load_npz)
    why = "the model evaluation " + (
        f"hit the {', '.join(outcome.limits_hit)} limit"
        if outcome.limits_hit
        else f"ended without results ({(outcome.log.strip().splitlines() or ['no log'])[-1][:200]})"
    )
    for name in runnable:
        entry = meta.get(name) if isinstance(meta, dict) else None
        entries[name] = _decode(entry, arrays or {}) if isinstance(entry, dict) else {"error": why}
    return entries, outcome.seconds


def _read(path: Path, parse):
    try:
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        return parse(data) if data else None
    except (OSError, ValueError):
        return None


def _load_npz(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def _decode(entry: dict, arrays: dict) -> dict:
    if "error" in entry:
        return {"error": "the saved model could not be run: " + str(entry["error"])[:500]}
    try:
        outputs = {}
        for set_name, node in entry["outputs"].items():
            ((kind, value),) = node.items()
            if kind == "dict":
                outputs[set_name] = {head: arrays[key] for head, key in value.items()}
            elif kind == "list":
                outputs[set_name] = [arrays[key] for key in value]
            else:
                outputs[set_name] = arrays[value]
        layers = [(str(n), str(c)) for n, c in entry["layers"]]
        run_errors = {str(k): str(v)[:500] for k, v in dict(entry.get("run_errors") or {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return {"error": "the model evaluation returned malformed results"}
    return {"layers": layers, "outputs": outputs, "run_errors": run_errors}
