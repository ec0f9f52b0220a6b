"""Tests of the p6 hexagonal group convolutions: exact rotation equivariance, receptive field,
a brute-force reference, the air-shower grid, serialisation and argument checks."""

from __future__ import annotations

import doctest
import os

import keras
import numpy as np
import pytest

import dlphys.layers.hexconv as hexconv
from dlphys.hexgrid import axial_to_offset, offset_positions, offset_to_axial
from dlphys.layers import GroupHexConv2D, HexConv2D, OrientationPooling
from dlphys.layers.hexconv import hex_mask, hex_offsets, rotate_axial

# The six neighbours of (r, q) as the project issue defines them, as (dr, dq).
SPEC_NEIGHBOURS = {(0, 1), (0, -1), (1, 0), (-1, 0), (-1, 1), (1, -1)}

# float32 sums of the same products in another order differ by a few ulp (~1e-7 relative) per
# term; 1e-5 of the output scale leaves a wide margin yet catches any misplaced weight (O(0.1)).
RTOL = 1e-5

to_numpy = keras.ops.convert_to_numpy  # any backend and device


@pytest.fixture(autouse=True, scope="module")
def _true_float32():
    """GPUs compute float32 convolutions in TF32 by default (10-bit mantissa) and with algorithms whose
    rounding depends on the cell position (seen on an H100, torch backend: equivariance errors up to
    1e-4 of the output scale). The tolerances here are for float32, so TF32 is off for this module."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        before = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        yield
        tf.config.experimental.enable_tensor_float_32_execution(before)
    elif backend == "torch":
        import torch

        before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        yield
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    elif backend == "jax":
        import jax

        with jax.default_matmul_precision("float32"):
            yield
    else:
        yield


@pytest.fixture(autouse=True)
def _seeded():
    """Reproducible initial weights; the thresholds hold for other seeds too (checked for 0-19)."""
    keras.utils.set_random_seed(int(os.environ.get("HEXCONV_TEST_SEED", "0")))


def assert_close(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


def rotate_cell(dr, dq):
    """+60° about the origin, written out independently of the module: (q, r) -> (-r, q + r)."""
    q, r = dq, dr
    q, r = -r, q + r
    return r, q


def hex_supported(rng, shape, radius):
    """Random ``(batch, H, W, ...)`` data that vanish outside the hexagon of ``radius`` about the centre."""
    x = rng.normal(size=shape).astype("float32")
    mask = hex_mask(shape[1:3], radius)
    return x * mask.reshape((1,) + mask.shape + (1,) * (len(shape) - 3))


def random_bias(layer_cls, *args, **kwargs):
    """A layer with a non-zero bias, so that the bias being shared by the orientations is tested."""
    return layer_cls(*args, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=3), **kwargs)


# --- geometry ----------------------------------------------------------------------------------------
def test_six_rotations_of_an_array_give_back_the_identity():
    rng = np.random.default_rng(0)
    x = hex_supported(rng, (2, 11, 11, 3), radius=5)
    y = x
    for _ in range(6):
        y = rotate_axial(y, 1)
    np.testing.assert_array_equal(y, x)  # a permutation of cells: exact
    assert not np.array_equal(rotate_axial(x, 1), x)  # ... and one step is not the identity
    # k = 6 is the identity on any array, k and -k undo each other on the hexagon
    z = rng.normal(size=(2, 7, 9, 3))
    np.testing.assert_array_equal(rotate_axial(z, 6), z)
    np.testing.assert_array_equal(rotate_axial(rotate_axial(x, 2), -2), x)


def test_rotate_axial_turns_cell_positions_counterclockwise_by_60_degrees():
    # Position field f(p) = (x, y) of cell p relative to the centre; (rho f)(p) = f(rho^-1 p) must be
    # the positions turned by -60°. float64 trigonometry: exact to ~1e-15, tolerance 1e-12.
    height = width = 9
    r, q = np.meshgrid(np.arange(height) - 4, np.arange(width) - 4, indexing="ij")
    field = np.stack([q + 0.5 * r, r * np.sqrt(3) / 2], axis=-1)  # (H, W, 2)
    turned = rotate_axial(field, 1, axes=(0, 1))
    c, s = np.cos(np.pi / 3), np.sin(np.pi / 3)
    expected = np.stack([c * field[..., 0] + s * field[..., 1], -s * field[..., 0] + c * field[..., 1]], -1)
    inside = hex_mask((height, width), 4)
    np.testing.assert_allclose(turned[inside], expected[inside], atol=1e-12)


def test_hex_offsets_of_radius_1_are_the_centre_and_the_six_spec_neighbours():
    offsets = {tuple(int(v) for v in o) for o in hex_offsets(1)}
    assert offsets == SPEC_NEIGHBOURS | {(0, 0)}
    assert len(hex_offsets(2)) == 19 and len(hex_offsets(3)) == 37  # 1 + 3 R (R + 1)


# --- equivariance ------------------------------------------------------------------------------------
@pytest.mark.parametrize("radius", [1, 2])
def test_rotating_input_by_60_degrees_rotates_maps_and_shifts_orientation_axis(radius):
    # 15x15 grid, centre (7, 7): the hexagon of radius 7 fits, input supported on it, outputs compared
    # on radius 7 - R where no zero padding at the array border enters.
    rng = np.random.default_rng(1)
    x = hex_supported(rng, (2, 15, 15, 3), radius=7)
    layer = random_bias(HexConv2D, 4, radius=radius, activation="tanh")
    y = to_numpy(layer(x))
    inside = hex_mask((15, 15), 7 - radius)
    assert y[:, inside].std() > 0.1  # a non-trivial response
    for k in (1, 2, 3):
        y_rot = to_numpy(layer(rotate_axial(x, k)))
        expected = rotate_axial(y, k, orientation_axis=3)
        assert_close(y_rot[:, inside], expected[:, inside])
    # the shift of the orientation axis matters: without it the maps do not match
    assert not np.allclose(y_rot[:, inside], rotate_axial(y, 3)[:, inside], atol=1e-3)


@pytest.mark.parametrize("radius", [1, 2])
def test_group_convolution_commutes_with_the_p6_action(radius):
    rng = np.random.default_rng(2)
    x = hex_supported(rng, (2, 15, 15, 6, 3), radius=7)
    layer = random_bias(GroupHexConv2D, 4, radius=radius, activation="relu")
    y = to_numpy(layer(x))
    inside = hex_mask((15, 15), 7 - radius)
    assert y[:, inside].std() > 0.1
    for k in (1, 5):
        y_rot = to_numpy(layer(rotate_axial(x, k, orientation_axis=3)))
        assert_close(y_rot[:, inside], rotate_axial(y, k, orientation_axis=3)[:, inside])


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_stack_with_orientation_pooling_is_exactly_rotation_equivariant(mode):
    rng = np.random.default_rng(3)
    x = hex_supported(rng, (2, 15, 15, 2), radius=7)
    model = keras.Sequential(
        [
            keras.Input((15, 15, 2)),
            random_bias(HexConv2D, 5, activation="relu"),
            random_bias(GroupHexConv2D, 4, radius=2, activation="relu"),
            OrientationPooling(mode),
        ]
    )
    y = to_numpy(model(x))
    inside = hex_mask((15, 15), 7 - 1 - 2)
    assert y.shape == (2, 15, 15, 4) and y[:, inside].std() > 0.05
    for k in range(1, 6):
        assert_close(to_numpy(model(rotate_axial(x, k)))[:, inside], rotate_axial(y, k)[:, inside])


# --- receptive field and reference -------------------------------------------------------------------
@pytest.mark.parametrize("radius", [1, 2])
def test_receptive_field_is_the_hexagon(radius):
    # Impulse response: output cell p sees input cell c iff |c - p|_hex <= R, in every orientation,
    # with random (hence non-zero) weights. The square kernel's corners must be exactly zero.
    x = np.zeros((1, 9, 9, 1), "float32")
    x[0, 4, 4, 0] = 1.0
    lift = HexConv2D(1, radius=radius, use_bias=False)
    y = to_numpy(lift(x))[0, :, :, :, 0]  # (H, W, 6)
    expected = hex_mask((9, 9), radius)
    for theta in range(6):
        np.testing.assert_array_equal(y[:, :, theta] != 0, expected)
    group = GroupHexConv2D(1, radius=radius, use_bias=False)
    x6 = np.repeat(x[:, :, :, None, :], 6, axis=3)
    y6 = to_numpy(group(x6))[0, :, :, :, 0]
    for theta in range(6):
        np.testing.assert_array_equal(y6[:, :, theta] != 0, expected)
    outside = ~hex_mask((2 * radius + 1,) * 2, radius)
    assert outside.sum() == radius * (radius + 1)  # the two corner triangles of the square
    assert np.all(to_numpy(lift.dense_kernel())[outside] == 0)
    assert np.all(to_numpy(group.dense_kernel())[outside] == 0)


def _shifted(x, dr, dq):
    """x(p + d) on a (batch, H, W, ...) array with zeros outside."""
    pad = [(0, 0), (2, 2), (2, 2)] + [(0, 0)] * (x.ndim - 3)
    xp = np.pad(x, pad)
    height, width = x.shape[1:3]
    return xp[:, 2 + dr : 2 + dr + height, 2 + dq : 2 + dq + width]


def test_radius_1_matches_brute_force_numpy_hex_convolution():
    # y_theta(p) = sum_i K(d_i) x(p + rho^theta d_i) (+ bias), summed cell by cell in float64.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 7, 3)).astype("float32")
    lift = random_bias(HexConv2D, 4)
    y = to_numpy(lift(x))
    kernel, bias = (np.asarray(w, "float64") for w in lift.get_weights())
    cells = [tuple(int(v) for v in o) for o in hex_offsets(1)]
    for theta in range(6):
        ref = np.zeros((*x.shape[:3], 4)) + bias
        for i, (dr, dq) in enumerate(cells):
            for _ in range(theta):
                dr, dq = rotate_cell(dr, dq)
            ref += _shifted(x.astype("float64"), dr, dq) @ kernel[i]
        assert_close(y[:, :, :, theta], ref)

    # group layer: y_theta(p) = sum_{i, phi} K_phi(d_i) x_{phi + theta}(p + rho^theta d_i) (+ bias)
    x6 = rng.normal(size=(2, 6, 7, 6, 3)).astype("float32")
    group = random_bias(GroupHexConv2D, 4)
    y6 = to_numpy(group(x6))
    kernel, bias = (np.asarray(w, "float64") for w in group.get_weights())
    for theta in range(6):
        ref = np.zeros((*x6.shape[:3], 4)) + bias
        for i, (dr, dq) in enumerate(cells):
            for _ in range(theta):
                dr, dq = rotate_cell(dr, dq)
            shifted = _shifted(x6.astype("float64"), dr, dq)
            for phi in range(6):
                ref += shifted[:, :, :, (phi + theta) % 6] @ kernel[i, phi]
        assert_close(y6[:, :, :, theta], ref)


# --- air-shower grid ---------------------------------------------------------------------------------
def _footprint(pos, angle=0.0):
    """An anisotropic two-channel footprint (signal, arrival time) at ``pos`` (m), turned by ``angle``."""
    c, s = np.cos(-angle), np.sin(-angle)
    x, y = c * pos[..., 0] - s * pos[..., 1], s * pos[..., 0] + c * pos[..., 1]
    signal = np.exp(-((x - 700.0) ** 2 / 2000.0**2 + (y + 300.0) ** 2 / 1200.0**2))
    time = 1e-3 * (0.8 * x + 0.3 * y)  # a tilted plane shower front [µs]
    return np.stack([signal, time], axis=-1).astype("float32")


def test_network_on_air_shower_grid_is_equivariant_to_turning_the_shower():
    pos = offset_positions(9, 9, spacing=1500.0)  # (9, 9, 2) [m], centre station at the origin
    offset = _footprint(pos)
    axial = offset_to_axial(np.moveaxis(offset, -1, 0))  # (2, 9, 13)
    np.testing.assert_array_equal(axial_to_offset(axial), np.moveaxis(offset, -1, 0))  # exact round trip
    assert axial.shape == (2, 9, 13)
    x = np.moveaxis(axial, 0, -1)[None]  # (1, 9, 13, 2); centre station at axial (4, 6)
    # The same shower turned by +60° about the centre station, converted the same way
    x_turned = np.moveaxis(offset_to_axial(np.moveaxis(_footprint(pos, np.pi / 3), -1, 0)), 0, -1)[None]
    inside = hex_mask((9, 13), 4)  # the 61 central stations: a hexagon that lies in the detector
    stations = offset_to_axial(np.ones((9, 9), bool))
    assert stations[inside].all()
    assert_close(x_turned[:, inside], rotate_axial(x, 1)[:, inside])  # float32 positions: ~1e-7

    model = keras.Sequential(
        [
            keras.Input((9, 13, 2)),
            random_bias(HexConv2D, 6, activation="relu"),
            random_bias(GroupHexConv2D, 6, activation="relu"),
            OrientationPooling("max"),
        ]
    )
    y, y_turned = to_numpy(model(x)), to_numpy(model(x_turned))
    assert y.shape == (1, 9, 13, 6) and np.isfinite(y).all()
    core = hex_mask((9, 13), 4 - 2)  # two radius-1 layers look two cells further out
    assert_close(y_turned[:, core], rotate_axial(y, 1)[:, core])


# --- Keras plumbing ----------------------------------------------------------------------------------
def _model():
    inputs = keras.Input((None, None, 2))  # any grid size
    h = random_bias(HexConv2D, 3, radius=2, activation="relu", name="lift")(inputs)
    h = random_bias(GroupHexConv2D, 4, activation="relu", kernel_regularizer="l2", name="group")(h)
    h = OrientationPooling("mean")(h)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(h))
    return keras.Model(inputs, outputs)


def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    model = _model()
    x = np.random.default_rng(5).normal(size=(3, 9, 13, 2)).astype("float32")
    path = tmp_path / "hexconv.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))  # same weights, same ops
    assert loaded.get_layer("group").get_config() == model.get_layer("group").get_config()
    # the model takes other grid sizes too (spatial axes are dynamic)
    assert tuple(loaded(x[:, :5, :7]).shape) == (3, 1)


def test_weights_hold_one_value_per_hexagon_cell_and_training_reduces_the_loss():
    model = _model()
    assert model.get_layer("lift").kernel.shape == (19, 2, 3)  # 19 cells, C_in, F
    assert model.get_layer("group").kernel.shape == (7, 6, 3, 4)  # 7 cells, 6 orientations, C_in, F
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 7, 9, 2)).astype("float32")
    target = x[..., 0].mean(axis=(1, 2))[:, None]
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=30, batch_size=16, verbose=0)
    # 30 full-batch Adam steps on one batch: the loss must halve (gradients reach the kernels)
    assert model.evaluate(x, target, verbose=0) < 0.5 * before


def test_docstring_examples_run():
    result = doctest.testmod(hexconv)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HexConv2D(0), "filters"),
        (lambda: HexConv2D(4, radius=0), "radius"),
        (lambda: GroupHexConv2D(2.5), "filters"),
        (lambda: OrientationPooling("min"), "mode"),
        (lambda: HexConv2D(2)(np.zeros((1, 5, 5, 6, 2), "float32")), r"\(batch, H, W, channels\)"),
        (lambda: GroupHexConv2D(2)(np.zeros((1, 5, 5, 2), "float32")), r"\(batch, H, W, 6, channels\)"),
        (lambda: GroupHexConv2D(2)(np.zeros((1, 5, 5, 4, 2), "float32")), "orientation axis"),
        (lambda: OrientationPooling()(np.zeros((1, 5, 5, 2), "float32")), "rank 5"),
        (lambda: rotate_axial(np.zeros((5, 5)), 1, axes=(0, 0)), "axes"),
        (lambda: rotate_axial(np.zeros((1, 5, 5, 2)), 1, orientation_axis=3), "orientation_axis"),
        (lambda: rotate_axial(np.zeros((1, 5, 5)), 1, center=(5, 0)), "center"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()
