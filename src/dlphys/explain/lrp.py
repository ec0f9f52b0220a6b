r"""Layer-wise relevance propagation (LRP) for Keras 3 models (book §12.3.2.2, Eq. 12.9).

LRP explains one output of a network, the *explained score* :math:`f(x)` (a class logit), by
handing it backwards layer by layer until every input variable :math:`x_i` holds a relevance
:math:`R_i`. For a layer with inputs :math:`a_j` (activations of the layer below), weights
:math:`w_{jk}`, biases :math:`b_k` and pre-activations :math:`z_k = \sum_j a_j w_{jk} + b_k`, the
relevance :math:`R_k` of each output neuron is split among its inputs in proportion to their
contributions :math:`z_{jk} = a_j w_{jk}`. The rules (Montavon et al. 2019, Sect. 10.2):

``"zero"`` (LRP-0)
    :math:`R_j = \sum_k \frac{a_j w_{jk}}{z_k} R_k`. For a bias-free ReLU network this equals
    gradient × input.
``"epsilon"`` (LRP-ε, the book's Eq. 12.9)
    :math:`R_j = \sum_k \frac{a_j w_{jk}}{z_k + \epsilon\,\mathrm{sign}(z_k)} R_k` with
    :math:`\mathrm{sign}(0) = +1`. The stabiliser :math:`\epsilon` absorbs relevance of weakly
    activated neurons; the larger :math:`\epsilon`, the sparser and less noisy the explanation and
    the less of :math:`f(x)` arrives at the input.
``"gamma"`` (LRP-γ)
    :math:`R_j = \sum_k \frac{a_j (w_{jk} + \gamma w^+_{jk})}
    {\sum_{0,j} a_j (w_{jk} + \gamma w^+_{jk})} R_k`, favouring positive contributions
    (the sum over :math:`0,j` includes the bias, :math:`b_k + \gamma b_k^+`). For inputs of either
    sign the favoured part is :math:`\gamma (a_j w_{jk})^+ = \gamma(a_j^+ w_{jk}^+ + a_j^- w_{jk}^-)`,
    which is the rule above whenever :math:`a_j \ge 0`.
``"alphabeta"`` (LRP-αβ, Bach et al. 2015)
    :math:`R_j = \sum_k \Big(\alpha \frac{(a_j w_{jk})^+}{\sum_{0,j} (a_j w_{jk})^+}
    - \beta \frac{(a_j w_{jk})^-}{\sum_{0,j} (a_j w_{jk})^-}\Big) R_k` with
    :math:`\alpha - \beta = 1`, :math:`\beta \ge 0` (the bias enters as :math:`b^\pm`).
``"zplus"`` (:math:`z^+`, LRP-α1β0)
    ``"alphabeta"`` with :math:`\alpha = 1, \beta = 0`: only positive contributions count, so the
    relevance of non-negative inputs is non-negative.
``"zb"`` (:math:`z^\mathcal{B}`, for the first layer on bounded input :math:`l_i \le x_i \le h_i`)
    :math:`R_i = \sum_j \frac{x_i w_{ij} - l_i w^+_{ij} - h_i w^-_{ij}}
    {\sum_i (x_i w_{ij} - l_i w^+_{ij} - h_i w^-_{ij})} R_j`.
``"flat"`` and ``"wsquare"`` (first layer)
    :math:`R_i = \sum_j \frac{1}{\sum_i 1} R_j` and
    :math:`R_i = \sum_j \frac{w_{ij}^2}{\sum_i w_{ij}^2} R_j`: relevance spread over the receptive
    field, independent of the input values.

A zero denominator passes no relevance (except for LRP-ε, whose denominator is never zero for
:math:`\epsilon > 0`). Without biases, LRP-0, the :math:`z^+`/γ rules and (for a neuron with both
positive and negative contributions) LRP-αβ *conserve* relevance: every layer's relevances sum to
the explained score; biases, the stabiliser ε and dead neurons absorb part of it.

How layers are treated
    ``Dense`` and ``Conv1D/2D/3D`` (also their ``activation="relu"``) and a stand-alone
    ``BatchNormalization`` (the element-wise affine map :math:`a \gamma/\sqrt{\sigma^2 + \epsilon}
    + \beta - \mu \gamma/\sqrt{\sigma^2 + \epsilon}` with the *moving* mean and variance) follow the
    rule. ``AveragePooling`` and ``GlobalAveragePooling`` (linear maps with fixed positive weights
    and no parameters) redistribute proportionally, with LRP-0, whatever rule the learned layers
    use, as the LRP literature and the common LRP libraries do: there a rule would only distort
    (LRP-αβ with α = 2 doubles the relevance of a pooling layer with non-negative inputs, a large
    LRP-ε absorbs part of it). A ``rule`` dict that names a pooling layer or its class, or a
    callable that returns a rule for it, still overrides this. A ``BatchNormalization`` directly after a
    ``Dense``/``Conv`` without activation is folded into that layer's weights and bias first
    (Hui & Binder 2019), so it is explained as one layer.
    ``MaxPooling`` and ``GlobalMaxPooling`` are winner-take-all: the relevance of a pooled unit goes
    entirely to the input that won the maximum (the gradient of the max; ties at a non-zero value
    are split the way the backend's gradient splits them). ``ReLU`` (layer, ``Activation("relu")``
    or ``activation="relu"``) passes relevance unchanged, as the relevance of a neuron is that of
    its pre-activation. ``Flatten``, ``Reshape`` and ``Permute`` rearrange it; ``Dropout`` and the
    noise layers are the identity at inference; ``InputLayer`` is skipped. A final ``softmax`` or
    ``sigmoid`` (as activation or layer) is removed: relevance starts from the logit. Nested
    ``Sequential``/functional models are expanded. Any other layer, activation or operation, and
    any multi-input or branching model, raises an error naming the layer and its class.

Implementation
    One forward pass, layer by layer in ``dtype`` (float64 by default, so that conservation holds to
    ~1e-12 relative), stores the activations; the backward pass uses the "gradient trick"
    (Montavon et al. 2019, Sect. 10.2.3): for a linear map :math:`z = f(a; W)` and
    :math:`s_k = R_k / \mathrm{denominator}_k`, :math:`R_j = a_j\,[\nabla_a (f(a; W) \cdot s)]_j`;
    the γ, αβ and :math:`z^\mathcal{B}` rules add such terms for copies of the weights
    :math:`W^\pm`. The vector-Jacobian products use TensorFlow's ``GradientTape`` (the only
    TensorFlow in this module), so the TensorFlow Keras backend is required. The re-implemented
    forward pass is checked against ``model(x)`` on the first batch.

References
    G. Montavon, A. Binder, S. Lapuschkin, W. Samek, K.-R. Müller, "Layer-Wise Relevance
    Propagation: An Overview", in *Explainable AI: Interpreting, Explaining and Visualizing Deep
    Learning*, LNCS 11700, Springer (2019) 193–209, doi:10.1007/978-3-030-28954-6_10.
    S. Bach, A. Binder, G. Montavon, F. Klauschen, K.-R. Müller, W. Samek, "On Pixel-Wise
    Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation",
    PLoS ONE 10(7): e0130140 (2015), doi:10.1371/journal.pone.0130140.
    G. Montavon, S. Lapuschkin, A. Binder, W. Samek, K.-R. Müller, "Explaining nonlinear
    classification decisions with deep Taylor decomposition", Pattern Recognit. 65 (2017) 211
    (the :math:`z^+` and :math:`z^\mathcal{B}` rules).
    L. Hui, A. Binder, "BatchNorm Decomposition for Deep Neural Network Interpretation",
    IWANN 2019, LNCS 11507, 280 (folding batch normalisation).
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics Research*,
    World Scientific (2021), §12.3.2.2.

Example
-------
>>> import numpy as np, keras
>>> from dlphys.explain import lrp
>>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
...                           keras.layers.Dense(3, activation="softmax")])
>>> x = np.random.default_rng(0).normal(size=(5, 8))
>>> relevance = lrp(model, x, rule="epsilon", epsilon=1e-6)
>>> relevance.shape
(5, 8)
>>> composite = lrp(model, x, rule={keras.layers.Dense: "zplus"})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

__all__ = ["RULES", "lrp"]

RULES = ("zero", "epsilon", "gamma", "alphabeta", "zplus", "zb", "flat", "wsquare")
"""Names accepted as a rule."""

_ZERO = object()  # a weight copy that is identically zero: its term is skipped


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    name: str
    epsilon: float
    gamma: float
    alpha: float
    beta: float


def _make_rule(spec, defaults: dict, where: str) -> _Rule:
    """A ``_Rule`` from a name or a ``(name, {param: value})`` pair; ``where`` names the source."""
    params = dict(defaults)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        name, extra = spec
        unknown = set(extra) - {"epsilon", "gamma", "alpha", "beta"}
        if unknown:
            raise ValueError(
                f"{where}: unknown rule parameter(s) {sorted(unknown)}; allowed are 'epsilon', 'gamma', 'alpha', 'beta'"
            )
        params.update(extra)
        if "alpha" in extra and "beta" not in extra:
            params["beta"] = None
    else:
        name = spec
    if not isinstance(name, str) or name not in RULES:
        raise ValueError(
            f"{where}: rule={spec!r} is not a known rule; use one of {RULES}, a "
            f"(name, {{param: value}}) pair, a dict layer name/class -> rule, or a "
            f"callable layer -> rule"
        )
    eps, gamma, alpha, beta = (params[k] for k in ("epsilon", "gamma", "alpha", "beta"))
    if name == "zplus":
        alpha, beta = 1.0, 0.0
    if beta is None:
        beta = alpha - 1.0
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"{where}: epsilon={eps!r} must be a finite number >= 0")
    if not (np.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"{where}: gamma={gamma!r} must be a finite number >= 0")
    if name == "alphabeta" and (beta < 0 or not math.isclose(alpha - beta, 1.0, abs_tol=1e-9)):
        raise ValueError(
            f"{where}: alpha={alpha!r}, beta={beta!r} are not allowed; LRP-alphabeta needs "
            f"alpha - beta = 1 and beta >= 0 (e.g. alpha=2, beta=1)"
        )
    return _Rule(name, float(eps), float(gamma), float(alpha), float(beta))


def _rule_for(layer, rule, defaults: dict) -> _Rule:
    """The rule for ``layer`` from a name, a pair, a mapping (name first, then class) or a callable.

    Parameter-free average pooling layers get LRP-0 (proportional redistribution) unless a mapping
    names them or their class, or a callable returns a rule for them.
    """
    where = f"layer {layer.name!r} ({type(layer).__name__})"
    default = "zero" if isinstance(layer, _AVG_POOL + _GLOBAL_AVG) else "epsilon"
    if isinstance(rule, Mapping):
        if layer.name in rule:
            return _make_rule(rule[layer.name], defaults, where)
        for cls in type(layer).__mro__:
            if cls in rule:
                return _make_rule(rule[cls], defaults, where)
        return _make_rule(default, defaults, where)
    if callable(rule):
        chosen = rule(layer)
        return _make_rule(default if chosen is None else chosen, defaults, where)
    return _make_rule("zero" if default == "zero" else rule, defaults, where)


# --- the model as a chain of steps --------------------------------------------------------------


@dataclass
class _Step:
    """One stage of the forward pass.

    ``kind``: ``"affine"`` (``fn(a, kernel) + bias``, linear in ``a``; ``kernel=None`` means the
    layer's own fixed, positive weights), ``"max"`` (winner-take-all ``fn(a)``), ``"rearrange"``
    (``fn(a)`` moves entries), ``"relu"`` or ``"output"`` (a final softmax/sigmoid).
    """

    kind: str
    layer: object
    fn: Callable | None = None
    kernel: object = None
    bias: object = None
    weighted: bool = False  # Dense/Conv: may take a first-layer rule and absorb a BatchNormalization
    channel_axis: int | None = None  # output channel axis (negative) of a weighted step
    folded: list = field(default_factory=list)
    activation: str | None = None  # for kind "output": "softmax" or "sigmoid"

    def forward(self, a):
        if self.kind == "affine":
            z = self.fn(a, self.kernel)
            return z if self.bias is None else z + self.bias
        if self.kind in ("max", "rearrange"):
            return self.fn(a)
        if self.kind == "relu":
            return ops.relu(a)
        return ops.softmax(a, axis=-1) if self.activation == "softmax" else ops.sigmoid(a)


def _describe(layer) -> str:
    return f"layer {getattr(layer, 'name', '?')!r} of class {type(layer).__name__}"


def _activation_name(layer, fn) -> str:
    known = {
        keras.activations.linear: "linear",
        keras.activations.relu: "relu",
        keras.activations.softmax: "softmax",
        keras.activations.sigmoid: "sigmoid",
    }
    if fn is None:
        return "linear"
    if fn in known:
        return known[fn]
    raise NotImplementedError(
        f"{_describe(layer)} uses activation {getattr(fn, '__name__', fn)!r}; LRP here supports "
        f"'linear' and 'relu' inside the network and 'softmax'/'sigmoid' at the output only"
    )


def _activation_steps(layer, name: str) -> list[_Step]:
    if name == "linear":
        return []
    if name == "relu":
        return [_Step("relu", layer)]
    return [_Step("output", layer, activation=name)]


def _cast(value, dtype):
    return ops.convert_to_tensor(ops.convert_to_numpy(value), dtype=dtype)


_IDENTITY_LAYERS = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)
_CONV_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_MAX_POOL = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)
_AVG_POOL = (keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D)
_GLOBAL_AVG = (
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)
_GLOBAL_MAX = (keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D)


def _dense_steps(layer, dtype) -> list[_Step]:
    if getattr(layer, "quantization_mode", None):
        raise NotImplementedError(
            f"{_describe(layer)} is quantized ({layer.quantization_mode}); LRP needs float weights"
        )
    bias = None if layer.bias is None else _cast(layer.bias, dtype)
    step = _Step(
        "affine",
        layer,
        fn=lambda a, k: ops.matmul(a, k),
        kernel=_cast(layer.kernel, dtype),
        bias=bias,
        weighted=True,
        channel_axis=-1,
    )
    return [step, *_activation_steps(layer, _activation_name(layer, layer.activation))]


def _conv_steps(layer, dtype) -> list[_Step]:
    if layer.padding == "causal":
        raise NotImplementedError(f"{_describe(layer)} uses padding='causal', which is not supported")
    if getattr(layer, "quantization_mode", None):
        raise NotImplementedError(f"{_describe(layer)} is quantized; LRP needs float weights")
    strides, padding = list(layer.strides), layer.padding
    dilation, data_format = layer.dilation_rate, layer.data_format

    def conv(a, k):
        return ops.conv(a, k, strides=strides, padding=padding, dilation_rate=dilation, data_format=data_format)

    channels_last = data_format == "channels_last"
    channel_axis = -1 if channels_last else -(layer.rank + 1)
    bias = None
    if layer.use_bias:
        shape = (1,) * (layer.rank + 1) + (layer.filters,) if channels_last else (1, layer.filters) + (1,) * layer.rank
        bias = ops.reshape(_cast(layer.bias, dtype), shape)
    step = _Step(
        "affine", layer, fn=conv, kernel=_cast(layer.kernel, dtype), bias=bias, weighted=True, channel_axis=channel_axis
    )
    return [step, *_activation_steps(layer, _activation_name(layer, layer.activation))]


def _batchnorm_steps(layer, previous: _Step | None, rank: int, dtype) -> list[_Step]:
    """Fold into ``previous`` (a Dense/Conv without activation) or return an element-wise affine step."""
    if getattr(layer, "renorm", False):
        raise NotImplementedError(f"{_describe(layer)} uses batch renormalization, which is not supported")
    var = ops.convert_to_numpy(layer.moving_variance).astype(np.float64)
    mean = ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
    scale = 1.0 / np.sqrt(var + layer.epsilon)
    if layer.scale:
        scale = scale * ops.convert_to_numpy(layer.gamma).astype(np.float64)
    shift = -mean * scale
    if layer.center:
        shift = shift + ops.convert_to_numpy(layer.beta).astype(np.float64)
    axis = layer.axis if layer.axis < 0 else layer.axis - rank  # negative, counted from the end
    bshape = [1] * rank
    bshape[axis] = scale.size
    if previous is not None and previous.weighted and previous.channel_axis == axis:
        # output channels are the last kernel axis for Dense and Conv alike
        kernel = ops.convert_to_numpy(previous.kernel) * scale
        bias = 0.0 if previous.bias is None else ops.convert_to_numpy(previous.bias).reshape(bshape)
        previous.kernel = ops.convert_to_tensor(kernel, dtype=dtype)
        previous.bias = ops.convert_to_tensor(bias * scale.reshape(bshape) + shift.reshape(bshape), dtype=dtype)
        previous.folded.append(layer)
        return []
    return [
        _Step(
            "affine",
            layer,
            fn=lambda a, k: a * k,
            kernel=ops.convert_to_tensor(scale.reshape(bshape), dtype=dtype),
            bias=ops.convert_to_tensor(shift.reshape(bshape), dtype=dtype),
        )
    ]


def _layer_steps(layer, previous: _Step | None, rank: int, dtype) -> list[_Step]:
    """The steps for one layer whose input has ``rank`` dimensions (batch included)."""
    cls = type(layer)
    if isinstance(layer, keras.layers.InputLayer) or cls in _IDENTITY_LAYERS or isinstance(layer, keras.layers.Dropout):
        return []
    if cls is keras.layers.Dense:
        return _dense_steps(layer, dtype)
    if cls in _CONV_LAYERS:
        return _conv_steps(layer, dtype)
    if cls is keras.layers.BatchNormalization:
        return _batchnorm_steps(layer, previous, rank, dtype)
    if cls in _MAX_POOL or cls in _AVG_POOL:
        pool = ops.max_pool if cls in _MAX_POOL else ops.average_pool
        size, strides, padding, fmt = layer.pool_size, layer.strides, layer.padding, layer.data_format

        def fn(a, k=None):
            return pool(a, pool_size=size, strides=strides, padding=padding, data_format=fmt)

        if cls in _MAX_POOL:
            return [_Step("max", layer, fn=fn)]
        return [_Step("affine", layer, fn=fn)]
    if cls in _GLOBAL_AVG or cls in _GLOBAL_MAX:
        axes = list(range(1, rank - 1)) if layer.data_format == "channels_last" else list(range(2, rank))
        keep = layer.keepdims
        if cls in _GLOBAL_MAX:
            return [_Step("max", layer, fn=lambda a: ops.max(a, axis=axes, keepdims=keep))]
        return [_Step("affine", layer, fn=lambda a, k=None: ops.mean(a, axis=axes, keepdims=keep))]
    if cls is keras.layers.Flatten:
        channels_first = layer.data_format == "channels_first"

        def flatten(a):
            if channels_first and len(a.shape) > 2:
                a = ops.transpose(a, (0, *range(2, len(a.shape)), 1))
            return ops.reshape(a, (ops.shape(a)[0], -1))

        return [_Step("rearrange", layer, fn=flatten)]
    if cls is keras.layers.Reshape:
        target = tuple(layer.target_shape)
        return [_Step("rearrange", layer, fn=lambda a: ops.reshape(a, (ops.shape(a)[0], *target)))]
    if cls is keras.layers.Permute:
        dims = (0, *layer.dims)
        return [_Step("rearrange", layer, fn=lambda a: ops.transpose(a, dims))]
    if cls is keras.layers.ReLU:
        if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            raise NotImplementedError(
                f"{_describe(layer)} is not a plain ReLU (max_value, negative_slope "
                f"or threshold set); only max(0, z) is supported"
            )
        return [_Step("relu", layer)]
    if cls is keras.layers.Activation:
        return _activation_steps(layer, _activation_name(layer, layer.activation))
    if cls is keras.layers.Softmax:
        if layer.axis not in (-1, rank - 1):
            raise NotImplementedError(
                f"{_describe(layer)} normalises over axis {layer.axis}; only the last axis is supported"
            )
        return [_Step("output", layer, activation="softmax")]
    raise NotImplementedError(
        f"{_describe(layer)} is not supported by LRP here; supported are Dense, Conv1D/2D/3D, "
        f"(Global)MaxPooling, (Global)AveragePooling, BatchNormalization, Flatten, Reshape, Permute, "
        f"Dropout, ReLU/Activation('relu'), InputLayer and a final softmax/sigmoid"
    )


def _is_functional(model) -> bool:
    return any(c.__name__ == "Functional" for c in type(model).__mro__)


def _layer_chain(model) -> list:
    """The layers of a single-path model in forward order (nested models expanded)."""
    if isinstance(model, keras.Sequential):
        chain = []
        for layer in model.layers:
            chain.extend(_layer_chain(layer) if isinstance(layer, keras.Model) else [layer])
        return chain
    if isinstance(model, keras.Model):
        if not _is_functional(model):
            raise NotImplementedError(
                f"model {model.name!r} of class {type(model).__name__} is a subclassed "
                f"model; LRP needs a Sequential or functional model"
            )
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} "
                f"outputs; LRP here needs a single-input, single-output, single-path model"
            )
        chain, tensor, start = [], model.outputs[0], model.inputs[0]
        while tensor is not start:
            op, node_index, _ = tensor._keras_history
            if isinstance(op, keras.layers.InputLayer):
                break
            if not isinstance(op, keras.layers.Layer):
                raise NotImplementedError(
                    f"operation {op.name!r} of class {type(op).__name__} in model "
                    f"{model.name!r} is not a layer; LRP supports layers only"
                )
            inputs = op._inbound_nodes[node_index].input_tensors
            if len(inputs) != 1:
                raise ValueError(
                    f"{_describe(op)} has {len(inputs)} inputs: model {model.name!r} branches or "
                    f"merges, but LRP here needs a single-path model"
                )
            chain.insert(0, op)
            tensor = inputs[0]
        expanded = []
        for layer in chain:
            expanded.extend(_layer_chain(layer) if isinstance(layer, keras.Model) else [layer])
        return expanded
    raise TypeError(f"model must be a keras.Model (Sequential or functional); got {type(model).__name__}")


def _build_steps(model, dtype) -> list[_Step]:
    """The forward pass as steps; a final softmax/sigmoid is the last step (kind ``"output"``)."""
    steps: list[_Step] = []
    shape = tuple(model.inputs[0].shape)
    for layer in _layer_chain(model):
        steps.extend(_layer_steps(layer, steps[-1] if steps else None, len(shape), dtype))
        shape = tuple(layer.compute_output_shape(shape))
    for step in steps[:-1]:
        if step.kind == "output":
            raise ValueError(
                f"{_describe(step.layer)} applies {step.activation} inside the network; "
                f"softmax/sigmoid are supported only as the final output"
            )
    return steps


# --- the backward pass --------------------------------------------------------------------------


def _vjp(fn, a, s):
    """``[∇_a (fn(a) · s)]``: the vector-Jacobian product of ``fn`` at ``a`` (TensorFlow tape)."""
    import tensorflow as tf

    a = tf.convert_to_tensor(a)
    with tf.GradientTape() as tape:
        tape.watch(a)
        out = fn(a)
    grad = tape.gradient(out, a, output_gradients=tf.convert_to_tensor(s, dtype=out.dtype))
    return tf.zeros_like(a) if grad is None else grad


def _safe_divide(r, z, epsilon: float = 0.0):
    if epsilon > 0:
        z = z + epsilon * ops.where(z >= 0, ops.ones_like(z), -ops.ones_like(z))
    nonzero = ops.not_equal(z, 0)
    return ops.where(nonzero, r / ops.where(nonzero, z, ops.ones_like(z)), ops.zeros_like(z))


def _pos(k):
    return None if k is None else ops.maximum(k, 0)


def _neg(k):
    return _ZERO if k is None else ops.minimum(k, 0)


def _redistribute(step: _Step, terms, bias, r, epsilon: float = 0.0):
    """``R_in = Σ_t c_t x_t ⊙ ∇(f(x_t; K_t) · s)``, ``s = R / (Σ_t c_t f(x_t; K_t) + bias)``.

    ``terms`` holds ``(x_t, K_t, c_t)``; terms with ``K_t is _ZERO`` are skipped.
    """
    terms = [t for t in terms if t[1] is not _ZERO]
    if not terms:
        return None
    z = sum(c * step.fn(x, k) for x, k, c in terms)
    if bias is not None:
        z = z + bias
    s = _safe_divide(r, z, epsilon)
    return sum(c * x * _vjp(lambda u, k=k: step.fn(u, k), x, s) for x, k, c in terms)


def _affine_relevance(step: _Step, a, r, rule: _Rule, bounds):
    k, b = step.kernel, step.bias
    if rule.name in ("zero", "epsilon"):
        eps = rule.epsilon if rule.name == "epsilon" else 0.0
        return _redistribute(step, [(a, k, 1.0)], b, r, eps)
    a_pos, a_neg = ops.maximum(a, 0), ops.minimum(a, 0)
    if rule.name == "gamma":
        g = rule.gamma
        bias = None if b is None else b + g * ops.maximum(b, 0)
        return _redistribute(step, [(a, k, 1.0), (a_pos, _pos(k), g), (a_neg, _neg(k), g)], bias, r)
    if rule.name in ("alphabeta", "zplus"):
        b_pos = None if b is None else ops.maximum(b, 0)
        b_neg = None if b is None else ops.minimum(b, 0)
        out = rule.alpha * _redistribute(step, [(a_pos, _pos(k), 1.0), (a_neg, _neg(k), 1.0)], b_pos, r)
        if rule.beta > 0:
            neg = _redistribute(step, [(a_pos, _neg(k), 1.0), (a_neg, _pos(k), 1.0)], b_neg, r)
            if neg is not None:
                out = out - rule.beta * neg
        return out
    if rule.name == "zb":
        low, high = bounds
        low = ops.broadcast_to(ops.cast(low, a.dtype), ops.shape(a))
        high = ops.broadcast_to(ops.cast(high, a.dtype), ops.shape(a))
        return _redistribute(step, [(a, k, 1.0), (low, _pos(k), -1.0), (high, _neg(k), -1.0)], None, r)
    ones = ops.ones_like(a)
    if rule.name == "flat":
        return _redistribute(step, [(ones, None if k is None else ops.ones_like(k), 1.0)], None, r)
    if rule.name == "wsquare":
        return _redistribute(step, [(ones, None if k is None else k * k, 1.0)], None, r)
    raise AssertionError(rule.name)  # pragma: no cover - names are validated in _make_rule


def _backward(steps, rules, activations, r, bounds):
    for step, rule, a in zip(reversed(steps), reversed(rules), reversed(activations), strict=False):
        if step.kind == "affine":
            r = _affine_relevance(step, a, r, rule, bounds)
        elif step.kind in ("max", "rearrange"):
            r = _vjp(step.fn, a, r)
    return r


# --- public function ----------------------------------------------------------------------------


def _check_input(model, x: np.ndarray) -> bool:
    """Validate ``x`` against the model input; return True if ``x`` is one sample without batch axis."""
    expected = tuple(model.inputs[0].shape)
    if x.ndim == len(expected) - 1:
        shape, single = (None, *x.shape), True
    elif x.ndim == len(expected):
        shape, single = x.shape, False
    else:
        shape, single = None, False
    if shape is None or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:], strict=False)):
        raise ValueError(
            f"x has shape {x.shape}, but model {model.name!r} expects a batch of shape "
            f"{expected} or one sample of shape {expected[1:]}"
        )
    return single


def _targets(target, n: int, n_out: int, logits) -> np.ndarray:
    if target is None:
        return np.argmax(logits, axis=1)
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, t)
    if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(
            f"target must be an int or an integer array of shape ({n},); got {target!r} with shape {np.shape(target)}"
        )
    if t.size and (t.min() < 0 or t.max() >= n_out):
        raise ValueError(
            f"target values must lie in [0, {n_out}) (the model has {n_out} outputs per "
            f"sample); got values from {t.min()} to {t.max()}"
        )
    return t.astype(np.int64)


def lrp(
    model,
    x,
    target=None,
    rule="epsilon",
    epsilon: float = 1e-6,
    *,
    gamma: float = 0.25,
    alpha: float = 2.0,
    beta: float | None = None,
    first_layer_rule=None,
    low=None,
    high=None,
    batch_size: int = 256,
    dtype: str = "float64",
) -> np.ndarray:
    """Layer-wise relevance propagation of one output per sample back to the input.

    Args:
        model: a built ``keras.Sequential`` or single-path functional model (see the module
            docstring for the supported layers).
        x: input, shape ``(N, *input_shape)`` or one sample ``input_shape``.
        target: the explained output: an int, or an integer array of shape ``(N,)`` (one per
            sample), indexing the flattened per-sample output. Default: the largest pre-softmax
            output (the predicted class).
        rule: a rule name from :data:`RULES` (``"zero"``, ``"epsilon"``, ``"gamma"``,
            ``"alphabeta"``, ``"zplus"``, ``"zb"``, ``"flat"``, ``"wsquare"``), a pair
            ``(name, {"epsilon"/"gamma"/"alpha"/"beta": value})``, a dict mapping layer names or
            layer classes to such rules (a name wins over a class, a class matches subclasses;
            unmatched layers use ``"epsilon"``), or a callable ``layer -> rule`` (``None`` means
            ``"epsilon"``). Average pooling layers use ``"zero"`` unless a dict names them or their
            class or a callable returns a rule for them (see "How layers are treated"). A dict/callable
            composite sees the model's own layers (a BatchNormalization folded into a Dense/Conv
            follows that layer's rule).
        epsilon: the LRP-ε stabiliser (≥ 0, in units of the pre-activations).
        gamma: the LRP-γ weight of positive contributions (≥ 0).
        alpha, beta: the LRP-αβ weights, ``alpha - beta = 1``; ``beta`` defaults to ``alpha - 1``.
        first_layer_rule: if given, the rule of the first Dense/Conv layer (e.g. ``"zb"``,
            ``"flat"``, ``"wsquare"``), overriding ``rule`` there.
        low, high: bounds of the input of a ``"zb"`` layer, scalars or arrays broadcastable to one
            sample of it; default the minimum and maximum of ``x``.
        batch_size: samples per backward pass.
        dtype: computation dtype, ``"float64"`` (default) or ``"float32"``.

    Returns:
        relevances, a float NumPy array of the shape of ``x``; for the conservative rules on a
        bias-free network each sample's relevances sum to its explained output.
    """
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(
            f"lrp needs the TensorFlow Keras backend (for its gradient tape); "
            f"the backend is {keras.backend.backend()!r}"
        )
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r} is not allowed; use 'float64' or 'float32'")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model (Sequential or functional); got {type(model).__name__}")
    try:
        model.inputs[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        raise ValueError(f"model {model.name!r} is not built; give it a keras.Input or call it once") from None
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"x must be numeric; got dtype {x.dtype}")
    single = _check_input(model, x)
    xb = x[None] if single else x

    steps = _build_steps(model, dtype)
    if steps and steps[-1].kind == "output":
        output_step, steps = steps[-1], steps[:-1]
    else:
        output_step = None
    defaults = {"epsilon": epsilon, "gamma": gamma, "alpha": alpha, "beta": beta}
    if isinstance(rule, Mapping):
        names = [layer.name for layer in _layer_chain(model)]
        bad = [k for k in rule if not isinstance(k, str | type)]
        if bad:
            raise ValueError(f"rule dict keys must be layer names (str) or layer classes; got {bad}")
        unknown = [k for k in rule if isinstance(k, str) and k not in names]
        if unknown:
            raise ValueError(
                f"rule names layer(s) {unknown} that are not in model {model.name!r}; its layers are {names}"
            )
    elif not callable(rule):
        _make_rule(rule, defaults, "lrp")  # validate a plain rule even if no layer uses it
    rules = [_rule_for(s.layer, rule, defaults) if s.kind == "affine" else None for s in steps]
    if first_layer_rule is not None:
        first = next((i for i, s in enumerate(steps) if s.weighted), None)
        if first is None:
            raise ValueError(
                f"first_layer_rule={first_layer_rule!r} given, but model {model.name!r} has no Dense or Conv layer"
            )
        rules[first] = _make_rule(first_layer_rule, defaults, f"first_layer_rule for {_describe(steps[first].layer)}")
    if low is None:
        low = float(np.min(xb)) if xb.size else 0.0
    if high is None:
        high = float(np.max(xb)) if xb.size else 0.0
    bounds = (np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64))

    out = np.zeros(xb.shape, dtype=np.float64 if dtype == "float64" else np.float32)
    n = len(xb)
    t_all = None if target is None else _targets(target, n, _n_out(model), None)
    for start in range(0, n, batch_size):
        batch = ops.convert_to_tensor(xb[start : start + batch_size], dtype=dtype)
        activations, a = [], batch
        for step in steps:
            activations.append(a)
            a = step.forward(a)
        logits = ops.reshape(a, (ops.shape(a)[0], -1))
        logits_np = ops.convert_to_numpy(logits)
        if start == 0:
            _check_forward(model, batch, a, output_step)
        t = (
            _targets(None, len(logits_np), logits_np.shape[1], logits_np)
            if t_all is None
            else t_all[start : start + batch_size]
        )
        r0 = np.zeros_like(logits_np)
        rows = np.arange(len(t))
        r0[rows, t] = logits_np[rows, t]
        r = ops.reshape(ops.convert_to_tensor(r0, dtype=dtype), ops.shape(a))
        out[start : start + batch_size] = ops.convert_to_numpy(_backward(steps, rules, activations, r, bounds))
    return out[0] if single else out


def _n_out(model) -> int:
    shape = model.outputs[0].shape[1:]
    if any(d is None for d in shape):
        raise ValueError(
            f"model {model.name!r} has output shape {model.outputs[0].shape} with unknown "
            f"sizes; give target=None or fix the input size"
        )
    return int(np.prod(shape))


def _check_forward(model, batch, logits, output_step):
    """Raise if the layer-by-layer forward pass does not reproduce ``model(batch)``."""
    y_model = ops.convert_to_numpy(model(ops.cast(batch, model.inputs[0].dtype), training=False))
    y = logits if output_step is None else output_step.forward(logits)
    y = ops.convert_to_numpy(y).astype(np.float64)
    low_precision = str(model.compute_dtype) in ("float16", "bfloat16")
    tol = (3e-2 if low_precision else 1e-3) * (1.0 + np.max(np.abs(y), initial=0.0))
    err = np.max(np.abs(y - y_model.reshape(y.shape)), initial=0.0)
    if not err <= tol:
        raise RuntimeError(
            f"the layer-by-layer forward pass of model {model.name!r} differs from model(x) by "
            f"{err:.3g} (tolerance {tol:.3g}); a layer is not reproduced faithfully"
        )
