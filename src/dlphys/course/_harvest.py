# Runs in the student's kernel, inside the sandbox, after the last cell (the runner appends it as a cell and puts
# spec.json and inputs.npz into `handover`, a new folder, just before it runs: no student cell could read them).
# Evaluates each expression of spec.json ("collect": name -> expression) in the notebook's namespace, with
# `inputs` bound to the grader's inputs (inputs.npz), and writes the values to /scratch/out/results.npz and
# results.json: NumPy arrays (numbers, booleans, strings; never pickled objects), nested in dicts and lists, or the
# error the expression raised. `keras_bytes(model)` (bound like `inputs`) saves a Keras model as a .keras file and
# returns its bytes, for the judge to load and run in a clean sandbox (dlphys.course.models). Whatever the student's
# code does to this cell only changes its own results, which the grader checks against its own computations.


def _dlphys_harvest(handover):
    import copy
    import json
    import os
    import signal

    import numpy as np

    out = os.path.join(os.environ["DLPHYS_SCRATCH_DIR"], "out")
    spec = json.load(open(os.path.join(handover, "spec.json"), encoding="utf-8"))
    flat = dict(np.load(os.path.join(handover, "inputs.npz"), allow_pickle=False))
    inputs = {}
    for key, value in flat.items():
        node = inputs
        *path, last = key.split("/")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value[()] if value.ndim == 0 and value.dtype.kind in "iufb" else value

    arrays = {}

    def encode(value, depth=0):
        if depth > 6:
            raise TypeError("nested too deeply")
        if isinstance(value, dict):
            return {"dict": {str(k): encode(v, depth + 1) for k, v in list(value.items())[:1000]}}
        if isinstance(value, str):
            return {"str": value[:100_000]}
        if value is None:
            return {"none": True}
        if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple, str)) for v in value):
            return {"list": [encode(v, depth + 1) for v in list(value)[:10_000]]}
        if hasattr(value, "history") and isinstance(getattr(value, "history", None), dict):  # keras History
            return encode(value.history, depth)
        if isinstance(value, (list, tuple)) and value:
            try:
                same = len({np.shape(v) for v in value}) == 1
            except (TypeError, ValueError):
                same = False
            if not same:  # arrays of different shapes (e.g. two layers' feature maps): a list of arrays
                return {"list": [encode(v, depth + 1) for v in list(value)[:10_000]]}
        array = np.asarray(value)
        if array.dtype.kind not in "biufcU":
            raise TypeError(f"cannot be returned as numbers: {type(value).__name__} (dtype {array.dtype})")
        if array.size > 50_000_000:
            raise ValueError(f"too large to return ({array.size} elements)")
        key = f"a{len(arrays)}"
        arrays[key] = array
        return {"array": key}

    class _Slow(Exception):
        pass

    def alarm(signum, frame):
        raise _Slow()

    def keras_bytes(model):
        import tempfile

        folder = tempfile.mkdtemp(prefix="model-", dir=os.environ["DLPHYS_SCRATCH_DIR"])
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return np.frombuffer(open(path, "rb").read(), dtype=np.uint8)

    user = get_ipython().user_ns  # noqa: F821 (the kernel's namespace)
    results = {}
    limit = int(spec.get("collect_timeout", 60))
    for name, expression in spec["collect"].items():
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.alarm(limit)
        try:
            value = eval(expression, {**user, "inputs": copy.deepcopy(inputs), "keras_bytes": keras_bytes})
            results[name] = {"ok": encode(value)}
        except _Slow:
            results[name] = {"error": f"`{expression}` took longer than {limit} s"}
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}".strip()
            results[name] = {"error": message[:500]}
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    np.savez(os.path.join(out, "results.npz"), **arrays)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump({"results": results}, handle)
