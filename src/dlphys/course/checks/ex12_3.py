"""Trusted checks of Exercise 12.3 — class activation maps for the Ising phases (10 points).

The judge never runs Keras: it collects the student's ``model`` (and ``model_random``) as layers with their
configurations and weights and evaluates them with its own NumPy forward pass and its own LRP (below, the rules
of ``dlphys.explain.lrp``), after checking that this forward pass reproduces ``model.predict`` on the judge's
lattices. With it the judge recomputes the test accuracy, the outputs near Tc, the last feature maps, the class
activation maps, the LRP maps and the rank correlations. ``predict`` is tested on lattices simulated with the
grader's seed. ``ex12_4`` uses the same network code.

The page leaves the upsampling of the class activation map open (any interpolation that keeps the lattice mean):
the judge compares a student's map with its own, b + Σ_k w_k A_k at the resolution of the last feature maps, after
averaging the student's map over each of their cells (:func:`cam_agrees`), with the page's criteria.
"""

import numpy as np
from scipy import ndimage
from scipy.stats import spearmanr

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import ising
from dlphys.reco.ising import fit_magnetization_cut, magnetization_cut_predict, phase_labels

# ----------------------------------------------------------------------------------- the network in NumPy
CONFIG_KEYS = (
    "units", "filters", "kernel_size", "strides", "padding", "pool_size", "activation", "use_bias", "data_format",
    "dilation_rate", "groups", "keepdims", "max_value", "negative_slope", "threshold",
)  # fmt: skip


def layers_of(model: str) -> str:
    """The collect expression that returns the layers of the Keras model named ``model`` as plain data."""
    keys = repr(CONFIG_KEYS)
    return (
        f"[{{'class': type(l).__name__, 'name': l.name, "
        f"'config': {{k: v for k, v in l.get_config().items() if k in {keys} and v is not None}}, "
        f"'weights': {{v.name: __import__('numpy').asarray(v) for v in l.weights}}}} for l in {model}.layers]"
    )


_IDENTITY = {"InputLayer", "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"}


def _pads(n: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """Output size and padding before/after of one axis, as TensorFlow pads."""
    if padding == "valid":
        return (n - k) // s + 1, 0, 0
    if padding != "same":
        raise AssertionError(f"padding {padding!r} is not supported (use 'same' or 'valid')")
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


class _Window:
    """Sliding windows over the two spatial axes of (n, H, W, C) arrays: convolution and pooling."""

    def __init__(self, size, strides, padding, shape):
        (self.kh, self.kw), (self.sh, self.sw) = (int(v) for v in size), (int(v) for v in strides)
        h, w = shape[1], shape[2]
        self.oh, self.ph0, self.ph1 = _pads(h, self.kh, self.sh, padding)
        self.ow, self.pw0, self.pw1 = _pads(w, self.kw, self.sw, padding)
        self.shape = shape
        if self.oh < 1 or self.ow < 1:
            raise AssertionError(f"a window of {self.kh}×{self.kw} does not fit an input of {h}×{w}")

    def pad(self, a, fill=0.0):
        return np.pad(a, ((0, 0), (self.ph0, self.ph1), (self.pw0, self.pw1), (0, 0)), constant_values=fill)

    def offsets(self):
        for i in range(self.kh):
            for j in range(self.kw):
                yield i, j, (slice(None), slice(i, i + self.sh * (self.oh - 1) + 1, self.sh),
                             slice(j, j + self.sw * (self.ow - 1) + 1, self.sw))  # fmt: skip

    def crop(self, g):
        return g[:, self.ph0 : self.ph0 + self.shape[1], self.pw0 : self.pw0 + self.shape[2]]


def _conv(a, kernel, strides, padding):
    win = _Window(kernel.shape[:2], strides, padding, a.shape)
    padded = win.pad(a)
    out = np.zeros((a.shape[0], win.oh, win.ow, kernel.shape[-1]))
    for i, j, where in win.offsets():
        out += padded[where] @ kernel[i, j]
    return out


def _conv_vjp(s, kernel, strides, padding, shape):
    win = _Window(kernel.shape[:2], strides, padding, shape)
    grad = win.pad(np.zeros(shape))
    for i, j, where in win.offsets():
        grad[where] += s @ kernel[i, j].T
    return win.crop(grad)


class _Step:
    """One stage of the forward pass: ``affine`` (linear map + bias), ``max``, ``reshape``, ``relu``, ``output``."""

    def __init__(self, kind, name, fn=None, vjp=None, kernel=None, bias=None, activation=None):
        self.kind, self.name, self.fn, self.vjp = kind, name, fn, vjp
        self.kernel, self.bias, self.activation = kernel, bias, activation
        self.weighted = kernel is not None


def _activation_steps(name: str, layer: str) -> list:
    if name in ("linear", None):
        return []
    if name == "relu":
        return [_Step("relu", layer)]
    if name in ("sigmoid", "softmax"):
        return [_Step("output", layer, activation=name)]
    raise AssertionError(f"layer {layer!r}: activation {name!r} is not supported (use 'relu')")


def _int_pair(value, name: str) -> tuple[int, int]:
    v = np.ravel(np.asarray(value)).astype(int)
    if v.size == 1:
        v = np.repeat(v, 2)
    if v.size != 2:
        raise AssertionError(f"layer {name!r}: expected a 2-d window, got {v.tolist()}")
    return int(v[0]), int(v[1])


def _layer_steps(layer: dict) -> list:
    cls, name = layer.get("class"), str(layer.get("name", "?"))
    config, weights = layer.get("config", {}), layer.get("weights", {})
    if not isinstance(config, dict) or not isinstance(weights, dict):
        raise AssertionError(f"layer {name!r}: unreadable description")
    fmt = config.get("data_format", "channels_last")
    if fmt not in ("channels_last", None):
        raise AssertionError(f"layer {name!r}: only data_format='channels_last' is supported")
    if cls in _IDENTITY:
        return []
    if cls == "Dense":
        kernel = np.asarray(weights["kernel"], dtype=float)
        bias = np.asarray(weights["bias"], dtype=float) if "bias" in weights else None
        step = _Step("affine", name, lambda a, k: a @ k, lambda s, k, shape: s @ k.T, kernel, bias)
        return [step, *_activation_steps(config.get("activation"), name)]
    if cls == "Conv2D":
        if _int_pair(config.get("dilation_rate", 1), name) != (1, 1) or int(np.asarray(config.get("groups", 1))) != 1:
            raise AssertionError(f"layer {name!r}: dilated or grouped convolutions are not supported")
        strides, padding = _int_pair(config.get("strides", 1), name), config.get("padding", "valid")
        kernel = np.asarray(weights["kernel"], dtype=float)
        bias = np.asarray(weights["bias"], dtype=float) if "bias" in weights else None
        step = _Step(
            "affine",
            name,
            lambda a, k: _conv(a, k, strides, padding),
            lambda s, k, shape: _conv_vjp(s, k, strides, padding, shape),
            kernel,
            bias,
        )
        return [step, *_activation_steps(config.get("activation"), name)]
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        size = _int_pair(config.get("pool_size", 2), name)
        strides = _int_pair(config.get("strides", size), name)
        padding = config.get("padding", "valid")
        if cls == "MaxPooling2D":
            return [_Step("max", name, *_max_pool(size, strides, padding))]
        return [_Step("affine", name, *_average_pool(size, strides, padding))]
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        keep = bool(np.asarray(config.get("keepdims", False)))
        if cls == "GlobalMaxPooling2D":
            return [_Step("max", name, *_global_max(keep))]

        def mean(a, k=None):
            return a.mean(axis=(1, 2), keepdims=keep)

        def mean_vjp(s, k, shape):
            s = s if keep else s[:, None, None, :]
            return np.broadcast_to(s / (shape[1] * shape[2]), shape).copy()

        return [_Step("affine", name, mean, mean_vjp)]
    if cls == "Flatten":
        return [_Step("reshape", name, lambda a: a.reshape(len(a), -1), lambda s, shape: s.reshape(shape))]
    if cls == "ReLU":
        plain = config.get("max_value") is None and all(
            float(np.asarray(config.get(key, 0.0))) == 0.0 for key in ("negative_slope", "threshold")
        )
        if not plain:
            raise AssertionError(f"layer {name!r}: only a plain ReLU is supported")
        return [_Step("relu", name)]
    if cls == "Activation":
        return _activation_steps(config.get("activation"), name)
    raise AssertionError(
        f"layer {name!r} of class {cls} is not supported here (use Conv2D, MaxPooling2D, AveragePooling2D, "
        "GlobalAveragePooling2D, Flatten, Dense, Dropout)"
    )


def _max_pool(size, strides, padding):
    def forward(a, k=None):
        win = _Window(size, strides, padding, a.shape)
        padded = win.pad(a, -np.inf)
        best = np.full((a.shape[0], win.oh, win.ow, a.shape[3]), -np.inf)
        for _, _, where in win.offsets():  # the first maximum of a window wins, as TensorFlow's gradient does
            best = np.maximum(best, padded[where])
        return best

    def vjp(s, a):
        win = _Window(size, strides, padding, a.shape)
        padded = win.pad(a, -np.inf)
        best, taken = forward(a), np.zeros(s.shape, dtype=bool)
        grad = win.pad(np.zeros(a.shape))
        for _, _, where in win.offsets():
            winner = (padded[where] == best) & ~taken
            grad[where] += np.where(winner, s, 0.0)
            taken |= winner
        return win.crop(grad)

    return forward, vjp


def _global_max(keep):
    def forward(a, k=None):
        return a.max(axis=(1, 2), keepdims=keep)

    def vjp(s, a):
        best = a.max(axis=(1, 2), keepdims=True)
        hit = a == best
        s = s if keep else s[:, None, None, :]
        return np.where(hit, s / hit.sum(axis=(1, 2), keepdims=True), 0.0)

    return forward, vjp


def _average_pool(size, strides, padding):
    def counts(shape):
        win = _Window(size, strides, padding, shape)
        ones, total = win.pad(np.ones((1, *shape[1:3], 1))), 0.0
        for _, _, where in win.offsets():
            total = total + ones[where]
        return win, total

    def forward(a, k=None):
        win, count = counts(a.shape)
        padded, total = win.pad(a), 0.0
        for _, _, where in win.offsets():
            total = total + padded[where]
        return total / count

    def vjp(s, k, shape):
        win, count = counts(shape)
        grad = win.pad(np.zeros(shape))
        for _, _, where in win.offsets():
            grad[where] += s / count
        return win.crop(grad)

    return forward, vjp


def _safe_divide(r, z, epsilon=0.0):
    if epsilon > 0:
        z = z + epsilon * np.where(z >= 0, 1.0, -1.0)
    nonzero = z != 0
    return np.where(nonzero, r / np.where(nonzero, z, 1.0), 0.0)


class Network:
    """A Keras model rebuilt from :func:`layers_of` (Conv2D, pooling, Flatten, Dense, ReLU): forward pass and LRP."""

    def __init__(self, layers, what: str = "model"):
        if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
            raise AssertionError(f"expected {what} to be a Keras model")
        self.layers = layers
        self.names = [str(layer.get("name")) for layer in layers]
        self.steps = [step for layer in layers for step in _layer_steps(layer)]
        self.output_step = self.steps.pop() if self.steps and self.steps[-1].kind == "output" else None
        if any(step.kind == "output" for step in self.steps):
            raise AssertionError(f"{what} applies a sigmoid or softmax before its last layer")

    def layer(self, name: str) -> dict:
        if name not in self.names:
            raise AssertionError(f"expected a layer named {name!r}")
        return self.layers[self.names.index(name)]

    def _run(self, x, until: str | None = None):
        a, activations = np.asarray(x, dtype=float), []
        for index, step in enumerate(self.steps):
            activations.append(a)
            if step.kind == "affine":
                a = step.fn(a, step.kernel)
                a = a if step.bias is None else a + step.bias
            elif step.kind in ("max", "reshape"):
                a = step.fn(a)
            else:
                a = np.maximum(a, 0.0)
            last = index + 1 == len(self.steps) or self.steps[index + 1].name != step.name
            if until is not None and step.name == until and last:
                return a, activations
        if until is not None:
            raise AssertionError(f"expected a layer named {until!r}")
        return a, activations

    def logits(self, x):
        """The output before a final sigmoid/softmax, (n, outputs)."""
        a = self._run(x)[0]
        return a.reshape(len(a), -1)

    def predict(self, x):
        z = self.logits(x)
        if self.output_step is None:
            return z
        if self.output_step.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def output_of(self, x, name: str):
        """The output of layer ``name`` (after its activation)."""
        return self._run(x, until=name)[0]

    def lrp(self, x, rule: str = "epsilon", epsilon: float = 1e-6):
        """LRP of the largest logit (the only one for a single output), as ``dlphys.explain.lrp``."""
        out, activations = self._run(x)
        logits = out.reshape(len(out), -1)
        r = np.zeros_like(logits)
        rows, target = np.arange(len(logits)), np.argmax(logits, axis=1)
        r[rows, target] = logits[rows, target]
        r = r.reshape(out.shape)
        for step, a in zip(reversed(self.steps), reversed(activations), strict=True):
            if step.kind == "affine":
                r = self._affine(step, a, r, rule, epsilon)
            elif step.kind == "max":
                r = step.vjp(r, a)
            elif step.kind == "reshape":
                r = step.vjp(r, a.shape)
        return r

    @staticmethod
    def _affine(step, a, r, rule, epsilon):
        def redistribute(terms, bias, eps=0.0):
            z = sum(step.fn(x, k) for x, k in terms)
            z = z if bias is None else z + bias
            s = _safe_divide(r, z, eps)
            return sum(x * step.vjp(s, k, x.shape) for x, k in terms)

        if not step.weighted or rule == "zero":  # pooling: proportional redistribution
            return redistribute([(a, step.kernel)], step.bias)
        if rule == "epsilon":
            return redistribute([(a, step.kernel)], step.bias, epsilon)
        if rule == "zplus":
            bias = None if step.bias is None else np.maximum(step.bias, 0.0)
            k = step.kernel
            return redistribute(
                [(np.maximum(a, 0.0), np.maximum(k, 0.0)), (np.minimum(a, 0.0), np.minimum(k, 0.0))], bias
            )
        raise ValueError(rule)


def network(r, name: str, reference=None, x=None) -> Network:
    """The student's model ``r[name]`` as a :class:`Network`, checked against ``reference`` = model.predict(x)."""
    net = Network(r[name], name.removeprefix("layers_") if name.startswith("layers_") else name)
    if reference is not None:
        ref = array(reference, name="the model output")
        mine = net.predict(x)
        assert mine.size == ref.size, f"expected the model output with {mine.size} values, got shape {ref.shape}"
        assert np.allclose(mine.reshape(ref.shape), ref, rtol=1e-4, atol=1e-5), (
            "the judge could not reproduce the output of the model from its layers (use only the layers the page "
            "names: Conv2D with ReLU, pooling, GlobalAveragePooling2D, Flatten, Dense)"
        )
    return net


# ------------------------------------------------------------------------------------------- the exercise
exercise = Exercise(
    "12_3_ising_cam",
    # saved, and run by the judge in a clean sandbox
    models={"model": "model", "feature_model": "feature_model", "model_random": "model_random"},
    runs={
        "p_test": ("model", lambda r, ctx: ctx.sent["x_test"].astype("float32")[..., None]),
        "p_small": ("model", "x_small"),
        "feature_model_out": ("feature_model", "x_cam"),
        "p_random": ("model_random", "x_cam"),
    },
    collect={
        "layers": layers_of("model"),
        "history": "history",
        "test_accuracy": "test_accuracy",
        "p_near": "p_near",
        "correct": "correct",
        "examples": "examples",
        "x_examples": "x_examples",
        "feature_maps": "feature_maps",
        "w_out": "w_out",
        "b_out": "b_out",
        "logit": "logit",
        "cam": "cam",
        "cam_examples": "class_activation_map(model, x_examples)",
        "cam_fresh": "class_activation_map(model, inputs['x_cam'])",
        "relevance_eps": "relevance_eps",
        "relevance_zplus": "relevance_zplus",
        "layers_random": layers_of("model_random"),
        "model_random_is_model": "model_random is model",
        "maps_random": "maps_random",
        "explain_near": "explain(model, inputs['x_near'])",
        "explain_near_random": "explain(model_random, inputs['x_near'])",
        "rank_correlation": "rank_correlation",
        "rank_correlation_abs": "rank_correlation_abs",
        "p_fresh": "predict(inputs['fresh'])",
    },
)

FRESH_T = [1.6, 2.0, 2.6, 3.0]  # the temperatures of the page's check of `predict`, at least 0.27 J/k_B from Tc
N_FRESH = 50
METHODS = ("CAM", "LRP-ε", "LRP-z+")
CAM_CORRELATION = 0.9  # the page's criteria for a CAM, whatever its interpolation: correlation at the cells' scale,
CAM_SPREAD = 2.0  # the spread within this factor of the judge's, and the mean the logit to 2 % of the map's range


@exercise.inputs
def fresh(ctx):
    p = ctx.params
    spins, T = ising.load(fast=ctx.fast, progress=False)
    order = np.random.default_rng(p["SEED"]).permutation(len(T))  # the notebook's split (rng of seed_everything)
    n_test, n_val = int(p["TEST_FRACTION"] * len(T)), int(p["VAL_FRACTION"] * len(T))
    test, train = order[:n_test], order[n_test + n_val :]
    near, t_near = ising.simulate(p["NEAR_TC"], p["N_NEAR"], size=32, seed=p["SEED"] + 1, progress=False)
    seeds = np.random.SeedSequence(ctx.seed).generate_state(2)
    new, t_new = ising.simulate(FRESH_T, N_FRESH, size=32, seed=int(seeds[0]), progress=False)
    cam, _ = ising.simulate([2.0, 2.25, 2.3], 2, size=32, seed=int(seeds[1]), progress=False)
    cut = fit_magnetization_cut(spins[train], phase_labels(T[train]))
    x_near = near.astype("float32")[..., None]
    sent = {
        "x_test": spins[test],
        "x_small": ctx.rng.choice([-1.0, 1.0], size=(2, 16, 16, 1)).astype("float32"),
        "x_cam": cam.astype("float32")[..., None],
        "x_near": x_near,  # the notebook's own near-Tc lattices: its rank correlations are recomputed on them
        "fresh": new,
    }
    kept = {
        "y_test": phase_labels(T[test]),
        "x_near": x_near,
        "T_near": t_near,
        "y_near": phase_labels(t_near),
        "y_fresh": phase_labels(t_new),
        "cut_accuracy": float(np.mean(magnetization_cut_predict(new, cut) == phase_labels(t_new))),
    }
    return sent, kept


def _model(r, ctx) -> Network:
    return network(r, "layers", r["p_test"], ctx.sent["x_test"].astype("float32")[..., None])


def coarse_cam(net: Network, x):
    """The judge's class activation maps b + Σ_k w_k A_k (n, h, w) of ``net`` at the resolution of ``last_conv``."""
    dense = net.layers[-1]["weights"]
    weights = np.asarray(dense["kernel"], dtype=float)[:, 0]
    bias = float(np.ravel(dense.get("bias", [0.0]))[0])
    return net.output_of(x, "last_conv") @ weights + bias


def _cam(net: Network, x):
    """The judge's upsampled class activation maps (n, L, L): bilinear, periodic (the page's suggestion)."""
    coarse = coarse_cam(net, x)
    factor = (1, x.shape[1] / coarse.shape[1], x.shape[2] / coarse.shape[2])
    return ndimage.zoom(coarse, factor, order=1, mode="grid-wrap", grid_mode=True)


def cell_means(maps, h: int, w: int):
    """Maps (n, L, M) averaged over an h × w grid of equal cells (area weights: L need not be a multiple of h)."""

    def weights(size, cells):
        edges = np.linspace(0.0, size, cells + 1)
        pixels = np.arange(size)[None, :]
        overlap = np.clip(np.minimum(edges[1:, None], pixels + 1) - np.maximum(edges[:-1, None], pixels), 0, None)
        return overlap / overlap.sum(axis=1, keepdims=True)

    return np.einsum("ia,nab,jb->nij", weights(maps.shape[1], h), maps, weights(maps.shape[2], w))


def cam_agrees(got, net: Network, x, name: str) -> np.ndarray:
    """Assert that ``got`` (n, L, L) are class activation maps of ``net`` for ``x``, upsampled in any way.

    The page's criteria: the lattice mean of each map is its logit (to 2 % of the map's range); averaged over the
    cells of the last feature maps, each map correlates with the judge's b + Σ_k w_k A_k above ``CAM_CORRELATION``
    and has a spread within a factor ``CAM_SPREAD`` of it (a flat map of the judge, from a network whose last
    feature maps are all zero, must be matched by a flat map of the same value). Returns ``got`` as an array.
    """
    got = array(got, name=name)
    assert got.shape == x.shape[:3], f"expected {name} of shape {x.shape[:3]}, got {got.shape}"
    logit = net.logits(x)[:, 0]
    span = got.max(axis=(1, 2)) - got.min(axis=(1, 2))
    offset = np.abs(got.mean(axis=(1, 2)) - logit)
    assert np.all(offset < 0.02 * span + 1e-3), (
        f"expected the lattice mean of each map of {name} to be the logit (to 2 % of the map's range); it is off by "
        f"up to {np.max(offset / np.maximum(span, 1e-12)):.1%} of the range"
    )
    want = coarse_cam(net, x)
    mine = cell_means(got, *want.shape[1:])
    for index, (m, c) in enumerate(zip(mine, want, strict=True)):
        scale = max(1.0, float(np.abs(c).max()))
        if c.std() <= 1e-9 * scale:
            assert np.allclose(got[index], c.mean(), atol=1e-3 * scale), (
                f"expected a flat map in {name} where the last feature maps are flat (lattice {index})"
            )
            continue
        correlation = float(np.corrcoef(m.ravel(), c.ravel())[0, 1]) if m.std() > 0 else 0.0
        assert correlation > CAM_CORRELATION, (
            f"expected {name} to be the class activation map b + Σ_k w_k A_k: averaged over the cells of the last "
            f"feature maps, it correlates with the grader's map at {correlation:.2f} for lattice {index} "
            f"(needed: above {CAM_CORRELATION})"
        )
        ratio = float(m.std() / c.std())
        assert 1 / CAM_SPREAD < ratio < CAM_SPREAD, (
            f"expected {name} to be the class activation map b + Σ_k w_k A_k: averaged over the cells of the last "
            f"feature maps, its spread is {ratio:.2f} times the grader's for lattice {index} (needed: within a "
            f"factor {CAM_SPREAD})"
        )
    return got


def _close(got, want, name, relative=1e-4):
    got = array(got, name=name)
    assert got.shape == want.shape, f"expected {name} of shape {want.shape}, got {got.shape}"
    return np.allclose(got, want, rtol=0, atol=relative * max(1.0, np.abs(want).max()))


@exercise.check(task="1", points=1)
def model_is_a_cam_network(r, ctx):
    net = _model(r, ctx)
    layers = [layer for layer in net.layers if layer["class"] not in _IDENTITY]
    assert net.layer("last_conv")["class"] == "Conv2D", "expected a Conv2D layer named 'last_conv'"
    assert [layer["class"] for layer in layers[-2:]] == ["GlobalAveragePooling2D", "Dense"], (
        "expected GlobalAveragePooling2D followed by the Dense output layer"
    )
    kernel = np.asarray(layers[-1]["weights"].get("kernel"))
    assert kernel.ndim == 2 and kernel.shape[1] == 1, "expected a single Dense output unit"
    assert net.output_step is not None and net.output_step.activation == "sigmoid", "expected a sigmoid output"
    assert array(r["p_small"]).shape == (2, 1), "expected model to accept lattices of any size (16×16 gave no (n, 1))"
    history = r["history"]
    assert isinstance(history, dict) and "val_accuracy" in history, (
        "expected history of model.fit with metrics=['accuracy'] and validation data"
    )
    assert 0 < len(history["val_accuracy"]) <= ctx.params["EPOCHS"], f"expected at most {ctx.params['EPOCHS']} epochs"


@exercise.check(task="1", points=1)
def test_accuracy_of_model(r, ctx):
    p = array(r["p_test"], (len(ctx.kept["y_test"]), 1), "model.predict on the test lattices")
    accuracy = np.mean((p[:, 0] > 0.5) == ctx.kept["y_test"])
    assert abs(number(r["test_accuracy"], "test_accuracy") - accuracy) < 1e-3, (
        f"expected test_accuracy = the accuracy of model on x_test ({number(r['test_accuracy']):.4f} reported)"
    )
    assert accuracy > 0.9, f"expected a test accuracy above 0.9, got {accuracy:.3f}"  # the page's criterion


@exercise.check(task="1", points=1)
def outputs_and_examples_near_tc(r, ctx):
    net, k = _model(r, ctx), ctx.kept
    n = len(k["y_near"])
    p_near = array(r["p_near"], (n,), "p_near")
    assert np.allclose(p_near, net.predict(k["x_near"])[:, 0], atol=1e-5), "expected p_near = model output on x_near"
    correct = np.asarray(r["correct"])
    assert correct.shape == (n,) and correct.dtype == bool, f"expected correct as a bool array ({n},)"
    assert np.array_equal(correct, (p_near > 0.5) == k["y_near"]), "expected correct = (p_near > 0.5) == y_near"
    assert 0.5 < correct.mean() < 1.0, f"expected an accuracy between chance and 1 near Tc, got {correct.mean():.3f}"
    examples = np.asarray(r["examples"])
    assert examples.shape == (4,) and examples.dtype.kind in "iu", f"expected 4 int indices, got {examples.shape}"
    assert examples.min() >= 0 and examples.max() < n, "expected indices into x_near"
    assert len(set(examples.tolist())) == 4, "expected the indices of four different lattices"
    assert correct[examples[:2]].all() and not correct[examples[2:]].any(), (
        "expected the first two examples classified correctly and the last two wrongly"
    )
    distance = np.abs(k["T_near"] - ising.TC)
    for chosen, kind in ((examples[:2], correct), (examples[2:], ~correct)):
        assert np.allclose(np.sort(distance[chosen]), np.sort(distance[kind])[:2]), (
            "expected each pair to be the lattices of its kind closest to Tc"
        )
    assert np.array_equal(array(r["x_examples"], (4, 32, 32, 1), "x_examples"), k["x_near"][examples]), (
        "expected x_examples = x_near[examples]"
    )


@exercise.check(task="2", points=1)
def feature_maps_of_last_conv(r, ctx):
    net = _model(r, ctx)
    x_cam, x_examples = ctx.sent["x_cam"], array(r["x_examples"], (4, 32, 32, 1), "x_examples")
    assert _close(r["feature_model_out"], net.output_of(x_cam, "last_conv"), "feature_model's output"), (
        "expected feature_model = the sub-model from the input of model to the output of 'last_conv'"
    )
    assert _close(r["feature_maps"], net.output_of(x_examples, "last_conv"), "feature_maps"), (
        "expected feature_maps = feature_model's output for x_examples"
    )


@exercise.check(task="2", points=1)
def output_weights_and_logits(r, ctx):
    net = _model(r, ctx)
    dense = net.layers[-1]["weights"]
    kernel, bias = np.asarray(dense["kernel"], dtype=float)[:, 0], np.asarray(dense.get("bias", [0.0]), dtype=float)
    assert _close(np.ravel(array(r["w_out"], name="w_out")), kernel, "w_out", 1e-6), (
        "expected w_out = the weights of the output layer, shape (K,)"
    )
    assert abs(number(r["b_out"], "b_out") - bias[0]) < 1e-6, "expected b_out = the bias of the output layer"
    x_examples = array(r["x_examples"], (4, 32, 32, 1), "x_examples")
    logit = net.output_of(x_examples, "last_conv").mean(axis=(1, 2)) @ kernel + bias[0]
    assert _close(r["logit"], logit, "logit"), "expected logit = b_out + Σ_k w_k (spatial mean of feature map k)"


@exercise.check(task="3", points=1)
def class_activation_map_of_fresh_lattices(r, ctx):
    cam_agrees(r["cam_fresh"], _model(r, ctx), ctx.sent["x_cam"], "class_activation_map(model, x)")


@exercise.check(task="3", points=1)
def cam_of_the_examples(r, ctx):
    net = _model(r, ctx)
    x_examples = array(r["x_examples"], (4, 32, 32, 1), "x_examples")
    cam = cam_agrees(r["cam"], net, x_examples, "cam")
    assert _close(r["cam_examples"], cam, "class_activation_map(model, x_examples)", 1e-5), (
        "expected cam = class_activation_map(model, x_examples)"
    )
    # the page's bounds on what the map follows (rank correlations: the same for any CAM of the network that keeps
    # its ordering; the judge uses its own)
    want = _cam(net, x_examples)
    local_order = np.abs(ndimage.uniform_filter(x_examples[..., 0], size=(1, 9, 9), mode="wrap"))
    rho_local = np.mean([spearmanr(c.ravel(), o.ravel())[0] for c, o in zip(want, local_order, strict=True)])
    flipped = _cam(net, -x_examples)
    rho_flip = np.mean([spearmanr(c.ravel(), f.ravel())[0] for c, f in zip(want, flipped, strict=True)])
    bound = 0.4 if ctx.fast else 0.5
    assert rho_local > bound, (
        f"expected a mean rank correlation of the CAM with the local order above {bound}, got {rho_local:.2f}"
    )
    assert rho_flip > 0.6, f"expected a mean rank correlation of the CAMs of s and -s above 0.6, got {rho_flip:.2f}"


@exercise.check(task="4", points=1)
def lrp_maps_of_the_examples(r, ctx):
    net = _model(r, ctx)
    x_examples = array(r["x_examples"], (4, 32, 32, 1), "x_examples")
    eps = net.lrp(x_examples, "epsilon", ctx.params["EPSILON"])[..., 0]
    assert _close(r["relevance_eps"], eps, "relevance_eps", 1e-5), (
        "expected relevance_eps = LRP-ε (epsilon=EPSILON) of x_examples, channel axis dropped"
    )
    zplus = net.lrp(x_examples, "zplus")[..., 0]
    assert _close(r["relevance_zplus"], zplus, "relevance_zplus", 1e-5), (
        "expected relevance_zplus = LRP-z+ of x_examples, channel axis dropped"
    )


def _rho(a, b):
    return np.array([spearmanr(u.ravel(), v.ravel())[0] for u, v in zip(a, b, strict=True)])


def _explanations(got, net: Network, x, epsilon: float, name: str) -> dict:
    """Assert that ``got`` is ``explain(net, x)``: the three maps checked as the page's tasks (3) and (4) say."""
    assert isinstance(got, dict) and set(got) == set(METHODS), f"expected {name} with the keys {METHODS}"
    maps = {"CAM": cam_agrees(got["CAM"], net, x, f"{name}['CAM']")}
    for method, rule in (("LRP-ε", ("epsilon", epsilon)), ("LRP-z+", ("zplus",))):
        want = net.lrp(x, *rule)[..., 0]
        assert _close(got[method], want, f"{name}[{method!r}]", 1e-5), (
            f"expected {name}[{method!r}] = the {method} maps of the network, channel axis dropped"
        )
        maps[method] = array(got[method], name=name)
    return maps


@exercise.check(task="5", points=1)
def randomised_model_sanity_check(r, ctx):
    net = _model(r, ctx)
    x_cam, x_near = ctx.sent["x_cam"], ctx.kept["x_near"]
    assert not bool(np.asarray(r["model_random_is_model"])), "expected model_random to be a new model"
    rand = network(r, "layers_random", r["p_random"], x_cam)
    shapes = [[np.shape(w) for w in layer["weights"].values()] for layer in net.layers]
    assert shapes == [[np.shape(w) for w in layer["weights"].values()] for layer in rand.layers], (
        "expected model_random with the architecture of model"
    )
    assert not np.allclose(rand.layers[-1]["weights"]["kernel"], net.layers[-1]["weights"]["kernel"]), (
        "expected re-initialised weights in model_random"
    )
    epsilon = ctx.params["EPSILON"]
    x_examples = array(r["x_examples"], (4, 32, 32, 1), "x_examples")
    _explanations(r["maps_random"], rand, x_examples, epsilon, "maps_random")
    trained = _explanations(r["explain_near"], net, x_near, epsilon, "explain(model, x_near)")
    random = _explanations(r["explain_near_random"], rand, x_near, epsilon, "explain(model_random, x_near)")
    for name, transform in (("rank_correlation", lambda m: m), ("rank_correlation_abs", np.abs)):
        value = r[name]
        assert isinstance(value, dict) and set(value) == set(METHODS), f"expected {name} with the keys {METHODS}"
        for method in METHODS:
            got = np.asarray(value[method], dtype=float)
            assert got.shape == (len(x_near),), f"expected {name}[{method!r}] with one ρ per lattice of x_near"
            want = _rho(transform(trained[method]), transform(random[method]))
            assert np.allclose(got, want, atol=2e-3, equal_nan=True), (
                f"expected {name}[{method!r}] = Spearman ρ of the maps of model and model_random per lattice"
            )
    mean_abs = {method: float(np.nanmean(np.abs(r["rank_correlation"][method]))) for method in ("CAM", "LRP-ε")}
    bound = 0.3 if ctx.fast else 0.2  # the page's bounds
    assert mean_abs["LRP-ε"] < bound, f"expected mean |ρ| of the LRP-ε maps below {bound}, got {mean_abs['LRP-ε']:.2f}"
    assert mean_abs["CAM"] < 0.5, f"expected mean |ρ| of the CAMs below 0.5, got {mean_abs['CAM']:.2f}"


@exercise.check(task="6", points=1)
def predict_on_fresh_lattices(r, ctx):
    y = ctx.kept["y_fresh"]
    p = array(r["p_fresh"], name="predict(spins)")
    assert p.shape == (len(y),), f"expected predict to return shape ({len(y)},), got {p.shape}"
    assert np.all((p >= 0) & (p <= 1)), "expected probabilities between 0 and 1"
    net = _model(r, ctx)
    assert np.allclose(p, net.predict(ctx.sent["fresh"].astype(float)[..., None])[:, 0], atol=1e-5), (
        "expected predict to return the output of model"
    )
    accuracy = np.mean((p > 0.5) == y)
    assert accuracy > 0.9, f"expected an accuracy above 0.9 on fresh lattices, got {accuracy:.3f}"
    assert accuracy >= ctx.kept["cut_accuracy"] - 0.05, (
        f"expected the network (accuracy {accuracy:.3f}) to be about as good as the |m| cut"
    )
