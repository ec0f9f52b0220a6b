"""Helpers of the notebooks' visible checks (the ``# Grading: task N (P points)`` cells).

A visible check tests a student's result against the criterion its task states on the page. Where that needs a
reference (a finite difference, say), it calls a helper from here, so that the check cell never spells out the
method the student is asked to write. Each check cell ends with :func:`passed`, which says what the grader checks
again, and for how many points, on fresh inputs the student never sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = [
    "binary_classifier_figures",
    "check_station_maps",
    "classification_accuracy",
    "deviation_from_model",
    "footprint_distances",
    "input_gradient",
    "numerical_gradient",
    "passed",
    "regression_figures",
]


def numerical_gradient(
    loss: Callable[[dict], float], params: Mapping[str, np.ndarray], eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """Central finite differences of a scalar ``loss(params)`` with respect to every entry of ``params``.

    Args:
        loss: function of a dict of arrays (the same keys as ``params``) returning a number.
        params: dict name -> array (any shape, float); it is not changed.
        eps: the step, in the units of the parameters.

    Returns:
        dict name -> array of the shape of ``params[name]``: (loss(p + eps) - loss(p - eps)) / (2 eps) per entry.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    base = {key: np.array(value, dtype=float) for key, value in params.items()}
    result = {}
    for key, value in base.items():
        slope = np.zeros(value.shape)
        for index in np.ndindex(value.shape):
            total = 0.0
            for sign in (1.0, -1.0):
                shifted = {k: v.copy() for k, v in base.items()}
                shifted[key][index] += sign * eps
                total += sign * float(np.squeeze(loss(shifted)))
            slope[index] = total / (2 * eps)
        result[key] = slope
    return result


def passed(task: str, points: int, graded: str) -> None:
    """Close a visible check: print that it passed and what the grader checks again for ``points`` points.

    Args:
        task: the task label of the ``# Grading`` line (``"3"``, ``"4a"``).
        points: the points of that line.
        graded: what the grader's own checks look at, in words (``"your gradients at random parameters"``).
    """
    unit, verb = ("point", "comes") if points == 1 else ("points", "come")
    print(
        f"Task {task}: the visible checks passed. At grading, {points} {unit} {verb} from the grader's own checks "
        f"of {graded}, on fresh inputs drawn with a seed you do not see."
    )


def regression_figures(prediction, truth) -> dict[str, float]:
    """Figures of merit of predictions against the truth, for checking the figures a regression task reports.

    Args:
        prediction: array of N predicted values (any shape with N entries, e.g. (N,) or (N, 1)).
        truth: array of the N true values, in the same units and order.

    Returns:
        dict with ``"r"``, the Pearson correlation coefficient of prediction and truth; ``"mse"``, the mean squared
        difference (units²); and ``"rms"``, the root-mean-square difference (units).
    """
    prediction = np.asarray(prediction, dtype=float).reshape(-1)
    truth = np.asarray(truth, dtype=float).reshape(-1)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction and truth need the same number of values, got {prediction.size} and {truth.size}")
    mse = float(np.mean((prediction - truth) ** 2))
    return {"r": float(np.corrcoef(prediction, truth)[0, 1]), "mse": mse, "rms": float(np.sqrt(mse))}


def classification_accuracy(probabilities, labels) -> float:
    """The fraction of samples whose largest class score sits at their label: the accuracy of a classifier.

    Args:
        probabilities: array (n, n_classes) of class scores per sample (probabilities, or any scores whose largest
            entry is the predicted class).
        labels: int array (n,) of the true classes, 0 to n_classes - 1.

    Returns:
        float in [0, 1].
    """
    scores = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels).reshape(-1)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(
            f"probabilities must be (n, n_classes) with one row per label, got {scores.shape} for {len(labels)} labels"
        )
    return float(np.mean(scores.argmax(axis=1) == labels))


def check_station_maps(x, events, time_unit: float = 1e-6, name: str = "x") -> None:
    """Assert that ``x`` holds the air-shower station maps of ``events`` as the page describes them.

    The criteria, those of :func:`dlphys.datasets.airshower.network_input` with the channels signal and time:
    silent stations are 0 in both channels; channel 0 of a triggered station is log10(1 + S / VEM); channel 1 of
    a triggered station is its arrival time after the first triggered station of the shower, in units of
    ``time_unit``. In the axial layout the cells that hold no station are 0 as well.

    Args:
        x: the student's maps, one row per shower: ``(n, 9, 9, 2)`` in the offset layout, the same flattened to
            ``(n, 162)``, or ``(n, 9, 13, 2)`` in the axial layout of :mod:`dlphys.hexgrid`.
        events: dict with ``signal`` [VEM], ``time`` [s] and optionally ``triggered`` (default ``signal > 0``),
            each ``(n, 9, 9)``, as :func:`dlphys.datasets.airshower.simulate` returns them.
        time_unit: the unit of the time channel, in s.
        name: the name of ``x`` in the messages.

    Raises:
        AssertionError: naming the criterion that failed and the student's value.
    """
    from dlphys import hexgrid

    signal = np.asarray(events["signal"], dtype=float)
    time = np.asarray(events["time"], dtype=float)
    triggered = np.asarray(events.get("triggered", signal > 0), dtype=bool)
    n, rows, cols = signal.shape
    maps = np.asarray(x, dtype=float)
    axial = (n, rows, cols + (rows - 1) // 2, 2)
    if maps.shape == (n, rows * cols * 2):
        maps = maps.reshape(n, rows, cols, 2)
    elif maps.shape == axial:
        holds_station = np.zeros(axial[1:3], dtype=bool)
        holds_station[hexgrid.axial_index(rows, cols)] = True
        outside = int(np.count_nonzero(maps[:, ~holds_station]))
        assert outside == 0, f"{name}: the axial cells without a station should be 0; {outside} values are not"
        maps = np.moveaxis(hexgrid.axial_to_offset(np.moveaxis(maps, -1, 1), cols=cols), 1, -1)
    assert maps.shape == (n, rows, cols, 2), (
        f"{name} should hold 2 channels for each of the {rows} × {cols} stations of {n} showers: shape "
        f"{(n, rows, cols, 2)}, {(n, rows * cols * 2)} flattened, or {axial} axial; got {np.shape(x)}"
    )
    assert np.all(np.isfinite(maps)), f"{name} should hold finite numbers; got NaN or inf"
    loud = int(np.count_nonzero(maps[~triggered]))
    assert loud == 0, f"{name}: silent stations should be 0 in both channels; {loud} values of silent stations are not"
    off = float(np.max(np.abs(maps[..., 0][triggered] - np.log10(1.0 + signal[triggered])), initial=0.0))
    assert off < 1e-4, (
        f"{name}: channel 0 of a triggered station should be log10(1 + S / VEM); it is off by up to {off:.3g}"
    )
    first = np.min(np.where(triggered, time, np.inf), axis=(1, 2), keepdims=True)
    after = ((time - first) / time_unit)[triggered]
    off = float(np.max(np.abs(maps[..., 1][triggered] - after), initial=0.0))
    assert off < 1e-3, (
        f"{name}: channel 1 of a triggered station should be its arrival time after the first triggered station of "
        f"the shower, in units of {time_unit:g} s; it is off by up to {off:.3g} such units"
    )


def deviation_from_model(model, inputs, outputs) -> float:
    """Largest absolute difference between reported ``outputs`` and what a Keras ``model`` computes on ``inputs``.

    A visible check uses it to confirm that an array the student reports (predictions, probabilities) comes from
    their model, without spelling out the call that makes it.

    Args:
        model: a built Keras model.
        inputs: its inputs, one row per sample; a flat array (N,) counts as a column (N, 1) when the model takes one
            number per sample.
        outputs: the reported array, as many values as the model gives for ``inputs`` (a column (N, 1) and a flat
            array (N,) compare alike).

    Returns:
        max |outputs − model(inputs)| over all values, as a float (nan where a reported value is nan).

    Raises:
        ValueError: when ``outputs`` and the model's outputs differ in their number of values.
    """
    import keras

    x = np.asarray(inputs, dtype="float32")
    if x.ndim == 1 and tuple(getattr(model, "input_shape", ())[1:]) == (1,):
        x = x[:, None]
    computed = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=float).reshape(-1)
    reported = np.asarray(outputs, dtype=float).reshape(-1)
    if computed.size != reported.size:
        raise ValueError(f"outputs hold {reported.size} values, the model gives {computed.size} for these inputs")
    return float(np.max(np.abs(reported - computed), initial=0.0))


def footprint_distances(generated, simulated) -> dict[str, float]:
    """1-D Wasserstein distances between two sets of air-shower footprints, in two observables.

    A visible check uses it to compare generated footprints with simulated ones without spelling out the
    observables the student is asked to compute.

    Args:
        generated: signals (n, rows, cols) in VEM, 0 for a silent station (the layout of
            :mod:`dlphys.datasets.airshower`).
        simulated: signals (m, rows, cols) in VEM, the same layout.

    Returns:
        dict with ``"n_triggered"``, the distance between the distributions of the number of triggered stations
        (signal above 0) per footprint, in stations; and ``"log10_total_signal"``, the distance between the
        distributions of log10(total signal / VEM) per footprint (totals below 1 VEM count as 1 VEM), in dex.
    """
    from scipy.stats import wasserstein_distance

    def observables(signal, name):
        signal = np.asarray(signal, dtype=float)
        if signal.ndim != 3 or len(signal) == 0:
            raise ValueError(f"{name} must be footprints (n, rows, cols) with n > 0, got shape {signal.shape}")
        return np.count_nonzero(signal > 0, axis=(1, 2)), np.log10(np.maximum(signal.sum(axis=(1, 2)), 1.0))

    (n_a, total_a), (n_b, total_b) = observables(generated, "generated"), observables(simulated, "simulated")
    return {
        "n_triggered": float(wasserstein_distance(n_a, n_b)),
        "log10_total_signal": float(wasserstein_distance(total_a, total_b)),
    }


def novelty_ratio(generated, training, reference, threshold: float = 3.0) -> float:
    """How far generated footprints lie from the training footprints, relative to new simulated ones.

    Each footprint becomes u = log10(max(S, threshold) / threshold) over all stations (0 for a silent one); the
    Euclidean distance of every footprint to its nearest training footprint is found (scikit-learn's
    ``NearestNeighbors``), and the median over ``generated`` is divided by the median over ``reference``
    (simulated footprints the generator has not seen). About 1 for a generator that makes new footprints; 0 for
    copies of training footprints (a memorisation test).

    Args:
        generated, training, reference: signals (n, rows, cols) in VEM, 0 for a silent station.
        threshold: trigger threshold in VEM.
    """
    from sklearn.neighbors import NearestNeighbors

    def maps(signal, name):
        signal = np.asarray(signal, dtype=float)
        if signal.ndim != 3 or len(signal) == 0:
            raise ValueError(f"{name} must be footprints (n, rows, cols) with n > 0, got shape {signal.shape}")
        return np.log10(np.maximum(signal, threshold) / threshold).reshape(len(signal), -1)

    nearest = NearestNeighbors(n_neighbors=1).fit(maps(training, "training"))
    d_generated = nearest.kneighbors(maps(generated, "generated"))[0][:, 0]
    d_reference = nearest.kneighbors(maps(reference, "reference"))[0][:, 0]
    return float(np.median(d_generated) / max(np.median(d_reference), 1e-12))


def binary_classifier_figures(probabilities, labels, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy and ROC AUC of a binary classifier, for checking the figures a classification task reports.

    Args:
        probabilities: array of n scores, P(class 1) or any score that grows with it (shape (n,) or (n, 1)).
        labels: array of the n true labels, 0 or 1.
        threshold: a sample is called class 1 where its score is above (``>``) the threshold.

    Returns:
        dict with ``"accuracy"``, the fraction of samples called right at ``threshold``, and ``"auc"``, the area
        under the ROC curve of the scores (``sklearn.metrics.roc_auc_score``; independent of the threshold).
    """
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(probabilities, dtype=float).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(
            f"probabilities and labels need the same number of values, got {scores.size} and {labels.size}"
        )
    return {
        "accuracy": float(np.mean((scores > threshold) == (labels == 1))),
        "auc": float(roc_auc_score(labels, scores)),
    }


def input_gradient(model, x) -> np.ndarray:
    """The gradient of a Keras model's output with respect to its input, sample by sample.

    A visible check uses it for a reference that is not the method the student is asked to write: for a ReLU
    network, LRP-ε with a small ε approaches gradient × input (exactly so for ε → 0; Ancona et al., ICLR 2018), so
    the correlation of an LRP-ε map with ``input_gradient(model, x) * x`` tests the map without calling the LRP.
    The samples do not interact (inference mode), so the gradient of the sum of all outputs is each sample's own.

    Args:
        model: a built Keras model (TensorFlow backend), in inference mode.
        x: its inputs, one row per sample, e.g. lattices (n, L, L, 1).

    Returns:
        float array of the shape of ``x``: d(sum of the model's outputs for that sample) / dx. For a model with a
        final sigmoid the gradient of the probability is that of the logit times p (1 − p), a positive factor per
        sample, which leaves correlations within a sample unchanged.
    """
    import tensorflow as tf

    inputs = tf.convert_to_tensor(np.asarray(x, dtype="float32"))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        total = tf.reduce_sum(model(inputs, training=False))
    return np.asarray(tape.gradient(total, inputs), dtype=float)
