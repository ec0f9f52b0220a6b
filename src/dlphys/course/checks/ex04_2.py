"""Trusted checks of Exercise 4.2 — linear regression with Keras (10 points).

The trained model and a fresh ``build_model()`` are called on random inputs drawn with the grader's seed, which
shows that they compute w·x + b with the weights they return; from then on the judge predicts with those weights
itself, on its own copy of the standardised wine split, and compares with its own least-squares solution. The
recorded weight trajectories are replayed as full-batch gradient descent with momentum in NumPy; the distances to
the closed form count only for trajectories that pass that replay.
"""

import numpy as np

from dlphys.course.checks import Exercise, array, number
from dlphys.datasets import wine

exercise = Exercise(
    "04_2_keras_linear_regression",
    models={"model": "model"},  # saved, and run by the judge in a clean sandbox
    runs={
        "model_fresh": ("model", "x"),
    },
    collect={
        "is_sequential": "isinstance(model, keras.Sequential)",
        "n_params": "model.count_params()",
        "layer": "model.get_layer('linear').get_weights()",
        "built": "(lambda m: [m.get_layer('linear').get_weights(), m.predict(inputs['x'], verbose=0)])(build_model())",
        "history": "history",
        "optimizer": "type(model.optimizer).__name__",
        "momentum": "float(model.optimizer.momentum)",
        "learning_rate": "float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))",
        "w_keras": "w_keras",
        "y_keras": "y_keras",
        "y_exact": "y_exact",
        "r_keras": "r_keras",
        "r_exact": "r_exact",
        "trajectories": "trajectories",
    },
)


@exercise.inputs
def fresh(ctx):
    rng = ctx.rng
    p = ctx.params
    x = rng.normal(size=(int(rng.integers(20, 100)), 11)).astype("float32")
    data = wine.load(test_fraction=p["TEST_FRACTION"], seed=p["SEED"]).standardized()
    design = np.column_stack([np.ones(len(data.y_train)), data.x_train])
    w_exact = np.linalg.lstsq(design, data.y_train, rcond=None)[0]
    return {"x": x}, {"data": data, "design": design, "w_exact": w_exact}


def _linear(layer, name: str):
    """[bias, w_1, ..., w_11] from the weights of a Dense(1) layer on 11 inputs."""
    assert isinstance(layer, list) and len(layer) == 2, f"expected the layer 'linear' of {name} to have (kernel, bias)"
    kernel = array(layer[0], (11, 1), f"the kernel of the layer 'linear' of {name}")
    bias = array(layer[1], (1,), f"the bias of the layer 'linear' of {name}")
    return np.concatenate([bias, kernel[:, 0]])


def _computes_linear(w, predictions, x, name: str) -> None:
    y = array(predictions, (len(x), 1), f"{name}.predict(x) for x of shape (N, 11)")[:, 0]
    assert np.allclose(y, x.astype(float) @ w[1:] + w[0], atol=1e-4), (
        f"expected the layer 'linear' of {name} to compute w·x + b (no activation)"
    )


def _trained(r, ctx):
    w = _linear(r["layer"], "model")
    _computes_linear(w, r["model_fresh"], ctx.sent["x"], "model")
    return w


@exercise.check(task="1", points=1)
def model_is_one_linear_node(r, ctx):
    assert bool(np.asarray(r["is_sequential"])), "expected model = build_model() to be a keras.Sequential"
    n = number(r["n_params"], "model.count_params()")
    assert n == 12, f"expected 12 parameters (11 weights, 1 bias), got {n:g}"
    trained = _trained(r, ctx)
    built = r["built"]
    assert isinstance(built, list) and len(built) == 2, "expected build_model() to return a model with a layer 'linear'"
    w = _linear(built[0], "build_model()")
    _computes_linear(w, built[1], ctx.sent["x"], "build_model()")
    assert not np.allclose(w, trained), "expected build_model() to return a new, untrained model on every call"


@exercise.check(task="2", points=1)
def training_reaches_the_least_squares_minimum(r, ctx):
    data, design, w_exact = ctx.kept["data"], ctx.kept["design"], ctx.kept["w_exact"]
    epochs = ctx.params["EPOCHS"]
    history = r["history"]
    assert isinstance(history, dict) and "loss" in history, "expected history = model.fit(...), with a 'loss'"
    loss = array(history["loss"], name="history.history['loss']")
    assert loss.shape == (epochs,), f"expected a history of {epochs} epochs, got {loss.size}"
    minimum = np.mean((design @ w_exact - data.y_train) ** 2)
    mse = np.mean((design @ _trained(r, ctx) - data.y_train) ** 2)
    assert mse < 1.01 * minimum, (
        f"expected the trained model's training MSE within 1 % of the least-squares minimum, got {mse:.4f}"
    )
    assert minimum - 1e-4 < loss[-1] < 1.01 * minimum, (
        f"expected the final training loss within 1 % of the least-squares minimum, got {loss[-1]:.4f}"
    )


@exercise.check(task="2", points=1)
def compiled_with_sgd_and_the_given_settings(r, ctx):
    name = r["optimizer"]
    assert name == "SGD", f"expected keras.optimizers.SGD, got {name}"
    momentum, rate = number(r["momentum"], "the momentum"), number(r["learning_rate"], "the learning rate")
    assert np.isclose(momentum, ctx.params["MOMENTUM"]), f"expected SGD with momentum MOMENTUM, got {momentum:g}"
    assert np.isclose(rate, ctx.params["LEARNING_RATE"]), f"expected SGD with LEARNING_RATE, got {rate:g}"


@exercise.check(task="3", points=2)
def w_keras_is_the_closed_form_solution(r, ctx):
    w_keras = array(r["w_keras"], (12,), "w_keras = [bias, w_1, ..., w_11]")
    assert np.allclose(w_keras, _trained(r, ctx), atol=1e-6), (
        "expected w_keras = [bias, w_1, ..., w_11] of the trained layer 'linear'"
    )
    largest = np.max(np.abs(w_keras - ctx.kept["w_exact"]))
    assert largest < 0.05, f"expected every weight within 0.05 of the closed form, largest difference {largest:.3f}"


@exercise.check(task="4", points=1)
def y_keras_and_r_keras_on_the_test_wines(r, ctx):
    data = ctx.kept["data"]
    y_keras = array(r["y_keras"], (len(data.y_test),), "y_keras (one number per test wine)")
    w = _trained(r, ctx)
    assert np.allclose(y_keras, np.column_stack([np.ones(len(data.y_test)), data.x_test]) @ w, atol=1e-4), (
        "expected y_keras to be the predictions of model for the test wines"
    )
    r_keras = number(r["r_keras"], "r_keras")
    assert np.isclose(r_keras, np.corrcoef(y_keras, data.y_test)[0, 1], atol=1e-6), (
        f"expected r_keras = correlation of y_keras and y_test, got {r_keras:.4f}"
    )
    assert 0.4 < r_keras < 0.65, f"expected r between 0.4 and 0.65 for a linear model, got {r_keras:.3f}"


@exercise.check(task="4", points=1)
def y_exact_and_r_exact_on_the_test_wines(r, ctx):
    data = ctx.kept["data"]
    y_exact = array(r["y_exact"], (len(data.y_test),), "y_exact (one number per test wine)")
    reference = np.column_stack([np.ones(len(data.y_test)), data.x_test]) @ ctx.kept["w_exact"]
    assert np.allclose(y_exact, reference, atol=1e-4), "expected y_exact to be the closed-form predictions"
    r_exact = number(r["r_exact"], "r_exact")
    assert np.isclose(r_exact, np.corrcoef(y_exact, data.y_test)[0, 1], atol=1e-6), (
        f"expected r_exact = correlation of y_exact and y_test, got {r_exact:.4f}"
    )
    r_keras = number(r["r_keras"], "r_keras")
    assert abs(r_keras - r_exact) < 0.01, (
        f"expected the two correlations to agree to 0.01, got {r_keras:.3f} and {r_exact:.3f}"
    )


def _trajectories(r, ctx) -> dict:
    epochs, momentum = ctx.params["EPOCHS"], ctx.params["MOMENTUM"]
    trajectories = r["trajectories"]
    keys = sorted(float(k) for k in trajectories) if isinstance(trajectories, dict) else None
    assert keys is not None and np.allclose(keys, sorted([0.0, momentum])), (
        f"expected trajectories with the keys 0.0 and {momentum}, got {keys}"
    )
    out = {}
    for key, steps in trajectories.items():
        out[0.0 if np.isclose(float(key), 0.0) else momentum] = array(steps, (epochs + 1, 12), f"trajectories[{key}]")
    return out


def _replayed(r, ctx) -> dict:
    """The trajectories, each checked to be full-batch SGD from its row 0 (so that their numbers are not made up)."""
    data, design, rate = ctx.kept["data"], ctx.kept["design"], ctx.params["LEARNING_RATE"]
    trajectories = _trajectories(r, ctx)
    for momentum, steps in trajectories.items():
        w, v = steps[0].astype(float), np.zeros(12)
        replay = [w]
        for _ in range(ctx.params["EPOCHS"]):
            gradient = 2 / len(design) * design.T @ (design @ w - data.y_train)
            v = momentum * v - rate * gradient
            w = w + v
            replay.append(w)
        error = np.max(np.abs(np.array(replay) - steps))
        assert error < 1e-3, (
            f"momentum {momentum}: expected the weights after every full-batch epoch (SGD, LEARNING_RATE) from row 0 "
            f"on, got rows that differ from such a run by {error:.1e}"
        )
    return trajectories


@exercise.check(task="5", points=2)
def trajectories_follow_gradient_descent(r, ctx):
    _replayed(r, ctx)


@exercise.check(task="5", points=1)
def momentum_converges_faster(r, ctx):
    momentum = ctx.params["MOMENTUM"]
    distance = {m: np.abs(steps - ctx.kept["w_exact"]) for m, steps in _replayed(r, ctx).items()}
    assert np.all(distance[0.0][-1] < distance[0.0][0]), (
        "expected every weight closer to the closed form after training than before"
    )
    final = np.max(distance[momentum][-1])
    assert final < 0.05, f"expected the momentum run within 0.05 of the closed form, got {final:.3f}"
    assert np.max(distance[0.0][-1]) > 10 * final, (
        "expected plain gradient descent (momentum 0) to be much farther from the closed form than the momentum run"
    )
