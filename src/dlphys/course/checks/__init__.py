"""The trusted checks: one module per exercise (``ex04_1.py`` for ``04_1_network_by_hand``), read by the judge.

Each module defines ``exercise = Exercise(...)`` and, in one place an instructor can read and change:

- ``exercise.collect``: what the sandbox returns, as ``name -> expression``. Each expression is evaluated in the
  student's kernel after the notebook has run, with ``inputs`` bound to the grader's inputs: a name the notebook
  defines (``"params"``), or a call of the student's function or model on the grader's inputs
  (``"forward(inputs['params'], inputs['x'])"``, ``"model.predict(inputs['spins'], verbose=0)"``). Only arrays,
  numbers, strings, and dicts and lists of them come back.
- ``@exercise.inputs``: ``f(ctx) -> (sent, kept)``, the grader's fresh inputs drawn with ``ctx.rng`` (a seed the
  student never sees): ``sent`` goes into the sandbox, ``kept`` (labels, reference values) stays with the judge.
- ``models``: name -> the expression of a Keras model in the notebook (``{"model": "model"}``). Each is saved in the
  sandbox (collected as ``"model:<name>"``), audited and run by :mod:`dlphys.course.models` in a second sandbox
  that holds no student code, on the inputs ``@exercise.model_inputs`` gives: ``f(r, ctx) -> {name: {set: x}}``,
  computed by the judge after the notebook has run (so they may depend on the student's settings). A check reads
  ``r.model(name)``: ``{"layers": [(name, class)], "outputs": {set: the model's output}}``. Prefer it to
  ``model.predict`` in ``collect``, which runs the student's code and is only as honest as that code.
- ``runs``: name -> ``(model, source)``, the short form of the same: the saved ``model`` run on ``source``, a key of
  the sent inputs (``"x_test"``, ``"fresh/axial"``) or ``f(r, ctx)``; ``r[name]`` is then its output, as if
  ``collect`` had held ``"name": "model.predict(inputs[...])"``. ``(model, source, layer)`` gives the outputs of the
  model's layer of that name instead (the activations of a feature layer, say). ``(model, source, attack)``, with
  ``attack = {"attack": "pgd", "eps": ε, "steps": n, "step": α, "labels": the labels' source}`` (optional
  ``"seed"``, default 0, and ``"from_logits"``), gives the model's outputs on the judge's own PGD of ``source``
  against the saved model, computed in the clean sandbox (:mod:`dlphys.course.models`): an attacked accuracy that
  does not depend on the student's attack.
- ``stand_ins``: a layer class the page has the student write -> the Keras layer that computes its forward pass
  (``{"GradientReversal": "Identity"}``): the judge runs Keras's layer in its place, never the student's code.
- ``@exercise.check(task, points)``: ``f(r, ctx)`` raises ``AssertionError`` with a message when the check fails
  (0 points) and returns nothing when it passes (the points). ``r[name]`` is a collected value (a
  :class:`ResultMissing` with the student's error when it could not be collected); ``ctx.sent``, ``ctx.kept``,
  ``ctx.params`` (the notebook's ``parameters`` cell, run here in the grading mode) and ``ctx.fast``.

The judge never runs student code: it only compares what came back with its own computations. A number the
student merely reports earns points only where the judge can recompute it from the student's model or function
outputs.
"""

from __future__ import annotations

import importlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlphys.course.submission import _read_regular as read_regular

MAX_RESULTS_BYTES = 512 << 20
"""Largest ``results.npz`` the judge opens (a bigger one is itself the reason for 0 points)."""
ATTACKS = ("pgd",)
"""The attacks the clean sandbox makes itself (``_model_runner.ATTACKS``), for runs ``(model, source, attack)``."""
MAX_ELEMENTS = 32_000_000
"""Most numbers one result may hold for a check (256 MB as floats): a judge that ran out of memory would stop the
grading of the whole class."""


class ResultMissing(AssertionError):
    """A collected value that is not there: not defined, raised an error, or not returnable."""


@dataclass
class CheckResult:
    """One check's verdict."""

    task: str
    name: str
    points: float
    max_points: float
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class Context:
    """What a check may use besides the student's results."""

    exercise: str
    seed: int
    params: dict
    fast: bool
    sent: dict = field(default_factory=dict)
    kept: dict = field(default_factory=dict)

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass
class _Check:
    task: str
    points: float
    function: Callable


class Exercise:
    """The declared results and the trusted checks of one exercise."""

    def __init__(
        self,
        name: str,
        collect: dict[str, str] | None = None,
        models: dict[str, str] | None = None,
        runs: dict[str, tuple] | None = None,
        stand_ins: dict[str, str] | None = None,
    ):
        self.name = name
        self.collect: dict[str, str] = dict(collect or {})
        self.models: dict[str, str] = dict(models or {})
        self.runs: dict[str, tuple] = dict(runs or {})
        self.stand_ins: dict[str, str] = dict(stand_ins or {})
        if any(not 2 <= len(spec) <= 3 for spec in self.runs.values()):
            raise ValueError("a run is (model, source), (model, source, layer) or (model, source, attack)")
        for run, (_, _, *how) in self.runs.items():
            if how and isinstance(how[0], dict) and (how[0].get("attack") not in ATTACKS or "labels" not in how[0]):
                raise ValueError(f"the run {run!r}: an attack is {{'attack': one of {sorted(ATTACKS)}, 'labels': ...}}")
        unknown = sorted({spec[0] for spec in self.runs.values()} - set(self.models))
        if unknown:
            raise ValueError(f"runs of undeclared models {unknown}: declare them in models=")
        shadowed = sorted(set(self.runs) & set(self.collect))
        if shadowed:
            raise ValueError(f"runs named like collected results {shadowed}: a run would hide the collected value")
        # the networks are saved first, before any other expression runs with the judge's inputs: nothing the
        # notebook does with those inputs (a patched predict, say) can change a network after it has seen them
        saved = {f"model:{model}": f"keras_bytes({expression})" for model, expression in self.models.items()}
        self.collect = {**saved, **self.collect}
        self.checks: list[_Check] = []
        self._inputs: Callable | None = None
        self._model_inputs: Callable | None = None

    def inputs(self, function: Callable) -> Callable:
        """Register ``function(ctx) -> (sent, kept)``, the grader's fresh inputs."""
        self._inputs = function
        return function

    def model_inputs(self, function: Callable) -> Callable:
        """Register ``function(results, ctx) -> {model: {set name: inputs}}``, what the saved models are run on."""
        self._model_inputs = function
        return function

    @property
    def run_layers(self) -> dict[str, dict]:
        """model -> {run: the layer whose outputs the run returns, or the attack (without its labels) that the clean
        sandbox makes first}, for the runs that name one (``layers`` of :func:`dlphys.course.models.evaluate`)."""
        layers: dict[str, dict] = {}
        for run, (model, _, *how) in self.runs.items():
            if how:
                what = how[0]
                if isinstance(what, dict):  # the labels are sent with the inputs (``inputs_for_models``)
                    what = {key: value for key, value in what.items() if key != "labels"}
                layers.setdefault(model, {})[run] = what
        return layers

    def inputs_for_models(self, results: Results, ctx: Context) -> tuple[dict, dict]:
        """(model -> saved bytes, model -> input sets) of the declared models; a model that cannot be run is left
        out of both and its reason goes to ``results.models``."""
        results.runs = {run: spec[0] for run, spec in self.runs.items()}
        archives: dict[str, bytes] = {}
        for model in self.models:
            try:
                archives[model] = np.asarray(results[f"model:{model}"], dtype=np.uint8).tobytes()
            except (ResultMissing, TypeError, ValueError) as exc:
                results.models[model] = {"error": f"the model `{self.models[model]}` could not be saved: {exc}"}
        if not archives:
            return {}, {}
        try:
            inputs = self._model_inputs(results, ctx) if self._model_inputs is not None else {}
        except Exception as exc:  # e.g. the student's settings are unusable: the model checks say why
            for model in archives:
                results.models[model] = {"error": _why(exc)}
            return {}, {}
        for run, (model, source, *how) in self.runs.items():
            if model not in archives:
                continue
            try:
                value = _source(results, ctx, source)
                if how and isinstance(how[0], dict):  # attacked images x and their labels y
                    value = {"x": value, "y": np.asarray(_source(results, ctx, how[0]["labels"]), dtype=np.int64)}
                inputs.setdefault(model, {})[run] = value
            except Exception as exc:  # this run's input could not be made (an unusable result): it alone fails
                results.run_errors[run] = _why(exc)
        for model in list(archives):
            if not inputs.get(model):  # nothing to run it on
                failed = [results.run_errors[run] for run, spec in self.runs.items() if spec[0] == model]
                if failed:
                    results.models[model] = {"error": failed[0]}
                del archives[model]
                inputs.pop(model, None)
        return archives, inputs

    def check(self, task: str, points: float) -> Callable:
        """Register a check of ``task`` worth ``points`` (decorator)."""

        def register(function: Callable) -> Callable:
            self.checks.append(_Check(str(task), float(points), function))
            return function

        return register

    @property
    def max_points(self) -> dict[str, float]:
        """task -> the points its checks can give."""
        out: dict[str, float] = {}
        for check in self.checks:
            out[check.task] = out.get(check.task, 0.0) + check.points
        return out

    def prepare(self, ctx: Context) -> None:
        """Fill ``ctx.sent`` and ``ctx.kept`` with the grader's inputs."""
        if self._inputs is not None:
            ctx.sent, ctx.kept = self._inputs(ctx)

    def judge(self, results: Results | None, ctx: Context, reason: str = "") -> list[CheckResult]:
        """Run every check on ``results`` (None: nothing came back, every check gets 0 with ``reason``)."""
        verdicts = []
        for check in self.checks:
            name = check.function.__name__
            if results is None:
                verdicts.append(CheckResult(check.task, name, 0.0, check.points, reason or "no results"))
                continue
            try:
                check.function(results, ctx)
            except AssertionError as exc:
                verdicts.append(CheckResult(check.task, name, 0.0, check.points, str(exc) or "check failed"))
            except Exception as exc:  # a malformed result (wrong shape, NaN, ...) fails the check, not the grader
                message = f"{type(exc).__name__}: {exc}"[:300]
                verdicts.append(CheckResult(check.task, name, 0.0, check.points, f"unusable result ({message})"))
            else:
                verdicts.append(CheckResult(check.task, name, check.points, check.points))
        return verdicts

    def points(self, results: Results | None, ctx: Context) -> dict[str, float]:
        """The points :meth:`judge` gives ``results``, summed per task (``{"1": 2.0, "2": 3.0, ...}``)."""
        per_task: dict[str, float] = {}
        for verdict in self.judge(results, ctx):
            per_task[verdict.task] = per_task.get(verdict.task, 0.0) + verdict.points
        return per_task


def _why(exc: Exception) -> str:
    return (str(exc) if isinstance(exc, AssertionError) else f"unusable result ({type(exc).__name__}: {exc})")[:500]


def _source(results: Results, ctx: Context, source):
    """A run's input: ``source(results, ctx)``, or the sent input at the key ``source``."""
    return source(results, ctx) if callable(source) else _sent(ctx, source)


def _sent(ctx: Context, key: str):
    """The sent input at ``key`` (``"fresh/axial"``: a nested key)."""
    value = ctx.sent
    for part in key.split("/"):
        value = value[part]
    return value


class Results:
    """The values that came back from the sandbox (``results.json`` + ``results.npz``), read without pickle."""

    def __init__(self, out: Path):
        meta_path, npz_path = out / "results.json", out / "results.npz"
        if any(p.is_symlink() or not p.is_file() or not p.stat().st_size for p in (meta_path, npz_path)):
            raise ResultMissing("the notebook returned no results (it stopped before its last cell had run)")
        size = meta_path.stat().st_size + npz_path.stat().st_size
        if size > MAX_RESULTS_BYTES:
            raise ResultMissing(f"the results are {size >> 20} MiB, more than {MAX_RESULTS_BYTES >> 20} MiB")
        try:
            self._meta = json.loads(read_regular(meta_path, MAX_RESULTS_BYTES).decode("utf-8"))["results"]
            with np.load(io.BytesIO(read_regular(npz_path, MAX_RESULTS_BYTES)), allow_pickle=False) as data:
                self._arrays = {key: data[key] for key in data.files}
        except (ValueError, KeyError, OSError, TypeError) as exc:
            raise ResultMissing(f"the results could not be read ({type(exc).__name__})") from exc
        if not isinstance(self._meta, dict):
            raise ResultMissing("the results could not be read (not a mapping)")
        self.models: dict[str, dict] = {}  # filled by the grader: what the saved models gave in the clean sandbox
        self.runs: dict[str, str] = {}  # run name -> model (the exercise's ``runs``)
        self.run_errors: dict[str, str] = {}  # run name -> why the grader could not make its inputs

    def model(self, name: str) -> dict:
        """What the saved model ``name`` gave in the clean sandbox: ``{"layers": ..., "outputs": {set: ...}}``."""
        entry = self.models.get(name)
        if not isinstance(entry, dict):
            raise ResultMissing(f"the model `{name}` was not run by the grader")
        if "error" in entry:
            raise ResultMissing(str(entry["error"]))
        return entry

    def __contains__(self, name: str) -> bool:
        if name in self.runs:
            entry = self.models.get(self.runs[name])
            return isinstance(entry, dict) and name in (entry.get("outputs") or {})
        entry = self._meta.get(name)
        return isinstance(entry, dict) and "ok" in entry

    def __getitem__(self, name: str):
        if name in self.runs:
            if name in self.run_errors:
                raise ResultMissing(self.run_errors[name])
            entry = self.model(self.runs[name])
            outputs = entry["outputs"]
            if name in (entry.get("run_errors") or {}):
                why = entry["run_errors"][name]
                raise ResultMissing(f"the model `{self.runs[name]}` could not be run for `{name}`: {why}")
            if name not in outputs:
                raise ResultMissing(f"the model `{self.runs[name]}` was not run on `{name}`")
            return outputs[name]
        entry = self._meta.get(name)
        if not isinstance(entry, dict):
            raise ResultMissing(f"`{name}` did not come back from the notebook")
        if "ok" not in entry:
            error = str(entry.get("error", "unknown error"))
            if error.startswith("NameError"):
                undefined = re.search(r"name '(\w+)' is not defined", error)
                what = f"`{undefined[1]}` is not defined" if undefined else error
                raise ResultMissing(f"{what} at the end of the notebook")
            raise ResultMissing(f"`{name}` could not be computed: {error}")
        return self._decode(entry["ok"])

    def _decode(self, node, depth: int = 0):
        if depth > 8 or not isinstance(node, dict) or len(node) != 1:
            raise ResultMissing("malformed result")
        ((kind, value),) = node.items()
        if kind == "array":
            if value not in self._arrays:
                raise ResultMissing("malformed result (missing array)")
            return self._arrays[value]
        if kind == "dict" and isinstance(value, dict):
            return {str(k): self._decode(v, depth + 1) for k, v in value.items()}
        if kind == "list" and isinstance(value, list):
            return [self._decode(v, depth + 1) for v in value]
        if kind == "str" and isinstance(value, str):
            return value
        if kind == "none":
            return None
        raise ResultMissing("malformed result")


def module_name(exercise: str) -> str:
    """``04_1_network_by_hand`` -> ``ex04_1``."""
    match = re.match(r"(\d\d_\d+[a-z]?)", exercise)
    if not match:
        raise ValueError(f"not an exercise name: {exercise!r}")
    return f"ex{match[1]}"


def load(exercise: str) -> Exercise:
    """The :class:`Exercise` of ``exercise`` from its module in this package."""
    try:
        module = importlib.import_module(f"{__name__}.{module_name(exercise)}")
    except ModuleNotFoundError as exc:
        raise LookupError(
            f"no trusted checks for {exercise} (dlphys/course/checks/{module_name(exercise)}.py)"
        ) from exc
    except Exception as exc:  # a broken checks module stops its own exercise, not the whole class
        raise LookupError(f"the trusted checks of {exercise} do not load: {type(exc).__name__}: {exc}") from exc
    if not isinstance(getattr(module, "exercise", None), Exercise):
        raise LookupError(f"{module.__name__} defines no `exercise = Exercise(...)`")
    if module.exercise.name != exercise:
        raise LookupError(f"{module.__name__} checks {module.exercise.name}, not {exercise}")
    return module.exercise


def available() -> list[str]:
    """Module names of every exercise that has trusted checks."""
    return sorted(p.stem for p in Path(__file__).parent.glob("ex*.py"))


# --------------------------------------------------------------------------------- helpers for the checks
def array(value, shape: tuple | None = None, name: str = "value") -> np.ndarray:
    """``value`` as a finite float array (of ``shape``, where ``None`` entries match any length)."""
    if np.size(value) > MAX_ELEMENTS:  # before the float copy
        raise AssertionError(f"expected {name} of at most {MAX_ELEMENTS:,} numbers, got {np.size(value):,}")
    try:
        out = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"expected {name} as numbers, got {type(value).__name__}") from exc
    if shape is not None:
        ok = out.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, out.shape, strict=True))
        if not ok:
            want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise AssertionError(f"expected {name} of shape {want}, got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise AssertionError(f"expected finite numbers in {name}, got NaN or inf")
    return out


def number(value, name: str = "value") -> float:
    """``value`` as one finite float (a 0-d or one-element array)."""
    out = array(value, name=name)
    if out.size != 1:
        raise AssertionError(f"expected {name} to be one number, got shape {out.shape}")
    return float(out.reshape(-1)[0])


def returned(key: str, shape: Callable[[Context], tuple], transform: Callable | None = None) -> Callable:
    """A run's source: the value ``key`` that came back from the notebook (images an attack or ``generate`` made),
    of ``shape(ctx)``, through ``transform``, as float32, for a saved network to be run on by the judge.

    Where ``key`` is missing or of the wrong shape the source gives one blank row, so that the network's other runs
    go on; the checks that read ``key`` fail with the reason.
    """

    def source(r, ctx: Context) -> np.ndarray:
        want = tuple(shape(ctx))
        try:
            value = array(r[key], want, key)
        except (AssertionError, KeyError):  # ResultMissing too
            return np.zeros((1, *(1 if n is None else n for n in want[1:])), dtype="float32")
        return np.asarray(transform(value) if transform is not None else value, dtype="float32")

    return source
