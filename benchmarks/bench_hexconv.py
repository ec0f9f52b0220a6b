"""Speed of the p6 hexagonal convolutions against a plain ``Conv2D`` of the same output size.

Two layers each: ``HexConv2D(F) -> GroupHexConv2D(F)`` (output ``(batch, H, W, 6, F)``) against
``Conv2D(6F, 3x3) -> Conv2D(6F, 3x3)`` (output ``(batch, H, W, 6F)``), both "same" padding and ReLU,
on the air-shower axial grid (9x13, two channels: signal and arrival time) and on a 64x64 grid.
The group layer runs one convolution of exactly the plain layer's size, so the ratio measures the
overhead of building the rotated kernel (one gather) and of the reshapes; target <= 2x.

Times are the median over repeats of one compiled ``predict_on_batch`` (forward) and one
``train_on_batch`` (forward + backward + SGD update, MSE loss) per batch, after warm-up, with the
two models' steps interleaved. Both models end in the same per-sample mean of their feature maps,
so that neither timing is dominated by copying a (batch, H, W, 6F) output back to the host; the
input's copy to the device is counted.
Batch sizes and repeats follow the fast switch (``DLPHYS_FAST=1``: small); full mode uses batch 256
of 9x13 and batch 32 of 64x64 grids (CPU-friendly; ``--batch-large 256`` on a GPU).

Run: ``python benchmarks/bench_hexconv.py [--batch N] [--batch-large N]`` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np
from _report import report, timer

from dlphys.config import pick
from dlphys.layers.hexconv import GroupHexConv2D, HexConv2D

FILTERS = 16  # F: 6F = 96 output channels per layer
TARGET_RATIO = 2.0
BATCH_SMALL = pick(full=256, fast=32)  # 9x13 grids per batch
BATCH_LARGE = pick(full=32, fast=8)  # 64x64 grids per batch; 256 takes minutes on a 2-core CPU
REPEATS = pick(full=10, fast=3)


def per_sample_mean(x):
    """``(batch, ...) -> (batch, 1)``: keeps the device-to-host copy of the output out of the timing."""
    return keras.ops.mean(keras.ops.reshape(x, (keras.ops.shape(x)[0], -1)), axis=1, keepdims=True)


def hex_model(shape):
    inputs = keras.Input(shape)
    h = HexConv2D(FILTERS, activation="relu")(inputs)
    h = GroupHexConv2D(FILTERS, activation="relu")(h)  # (batch, H, W, 6, F)
    return keras.Model(inputs, keras.layers.Lambda(per_sample_mean)(h))


def plain_model(shape):
    inputs = keras.Input(shape)
    h = keras.layers.Conv2D(6 * FILTERS, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(6 * FILTERS, 3, padding="same", activation="relu")(h)  # (batch, H, W, 6F)
    return keras.Model(inputs, keras.layers.Lambda(per_sample_mean)(h))


def median_seconds(steps, repeats: int) -> list[float]:
    """Median seconds of each step; the steps are interleaved, so that a change of machine load
    (the CPU may be shared) hits all of them alike."""
    for step in steps:  # warm-up: tracing and compilation
        step()
        step()
    times = [[] for _ in steps]
    for _ in range(repeats):
        for step, store in zip(steps, times, strict=False):
            with timer() as elapsed:
                step()
            store.append(elapsed())
    return [float(np.median(t)) for t in times]


def measure(models, x, y) -> tuple[list[float], list[float]]:
    """Median seconds per batch of (forward, forward + backward + update), one entry per model."""
    for model in models:
        model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    forward = median_seconds([lambda m=m: m.predict_on_batch(x) for m in models], REPEATS)
    train = median_seconds([lambda m=m: m.train_on_batch(x, y) for m in models], REPEATS)
    return forward, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=BATCH_SMALL, help="batch size of the 9x13 case")
    parser.add_argument("--batch-large", type=int, default=BATCH_LARGE, help="batch size of the 64x64 case")
    args = parser.parse_args()
    cases = [  # (name, batch, H, W, channels)
        ("air-shower grid 9x13", args.batch, 9, 13, 2),
        ("grid 64x64", args.batch_large, 64, 64, 2),
    ]
    rng = np.random.default_rng(0)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, F = {FILTERS}, repeats = {REPEATS}")
    for name, batch, height, width, channels in cases:
        x = rng.normal(size=(batch, height, width, channels)).astype("float32")
        hexa, plain = hex_model(x.shape[1:]), plain_model(x.shape[1:])
        y = np.zeros((batch, 1), "float32")
        (hex_fwd, plain_fwd), (hex_train, plain_train) = measure([hexa, plain], x, y)
        print(f"-- {name}, batch {batch}: parameters hex {hexa.count_params()}, plain Conv2D {plain.count_params()}")
        report(f"{name}: hex forward / batch", 1e3 * hex_fwd, None, "ms")
        report(f"{name}: Conv2D forward / batch", 1e3 * plain_fwd, None, "ms")
        report(f"{name}: hex forward+backward / batch", 1e3 * hex_train, None, "ms")
        report(f"{name}: Conv2D forward+backward / batch", 1e3 * plain_train, None, "ms")
        report(f"{name}: forward time ratio hex / Conv2D", hex_fwd / plain_fwd, TARGET_RATIO, "x")
        report(f"{name}: fwd+bwd time ratio hex / Conv2D", hex_train / plain_train, TARGET_RATIO, "x")


if __name__ == "__main__":
    main()
