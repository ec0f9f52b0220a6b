"""EdgeConv forward + backward cost at the size of the book's exercise (ch. 10).

Batch 64 point clouds of P = 500 points, k = 8 neighbours, Cp = 3 coordinates (graph), Cf = 4
features, kernel Dense(64), mean aggregation. One step = forward pass, a scalar loss and the
gradients with respect to the kernel weights (no optimizer update), inside one ``tf.function``.

Memory: TensorFlow does not track CPU allocations (``tf.config.experimental.get_memory_info('CPU:0')``
returns zeros), and tracemalloc does not see its C++ allocator. We therefore sample the process's
resident set size (``/proc/self/statm``) every millisecond in a thread while the steps run and report
the peak increase over the resident size just before the first step (model and data already in
memory). On a GPU, ``get_memory_info('GPU:0')['peak']`` is reported as well. For comparison the script
prints the size of the largest intermediate tensors.

Run from the repository root: ``python benchmarks/bench_edgeconv.py``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from _report import report, timer  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlphys.layers.edgeconv import EdgeConv, knn_indices  # noqa: E402

BATCH, N_POINTS, K, C_POINTS, C_FEATURES, WIDTH = 64, 500, 8, 3, 4, 64
N_STEPS = 20
MIB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Sample the resident set size in a thread; ``peak`` is the largest value seen [bytes]."""

    def __init__(self, interval_s: float = 1e-3):
        self.interval_s = interval_s
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def main():
    keras.utils.set_random_seed(0)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    rng = np.random.default_rng(0)
    points = tf.constant(rng.normal(size=(BATCH, N_POINTS, C_POINTS)).astype("float32"))
    features = tf.constant(rng.normal(size=(BATCH, N_POINTS, C_FEATURES)).astype("float32"))
    layer = EdgeConv(keras.layers.Dense(WIDTH, activation="relu"), k=K)
    layer.build([points.shape, features.shape])

    @tf.function
    def step(p, f):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(layer([p, f]))
        return loss, tape.gradient(loss, layer.trainable_weights)

    print(
        f"EdgeConv batch={BATCH} P={N_POINTS} k={K} Cp={C_POINTS} Cf={C_FEATURES} kernel=Dense({WIDTH}), "
        f"device={'GPU' if gpu else 'CPU'}, {os.cpu_count()} CPU cores visible"
    )
    tensors = {
        "distance matrix (B, P, P)": BATCH * N_POINTS * N_POINTS * 4,
        "edge inputs (B, P, k, 2 Cf)": BATCH * N_POINTS * K * 2 * C_FEATURES * 4,
        "edge messages (B, P, k, F)": BATCH * N_POINTS * K * WIDTH * 4,
    }
    for name, size in tensors.items():
        print(f"  float32 {name:30s} {size / MIB:8.1f} MiB")

    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    baseline = rss_bytes()
    with PeakRSS() as peak:
        with timer() as first:
            _ = [t.numpy() if hasattr(t, "numpy") else t for t in tf.nest.flatten(step(points, features))]
        with timer() as elapsed:
            for _ in range(N_STEPS):
                loss, grads = step(points, features)
            _ = loss.numpy(), [g.numpy() for g in grads]
    ms_per_step = 1e3 * elapsed() / N_STEPS

    knn = tf.function(lambda p: knn_indices(p, K))
    knn(points).numpy()
    with timer() as knn_time:
        for _ in range(N_STEPS):
            idx = knn(points)
        idx.numpy()

    report("first call incl. tracing", 1e3 * first(), None, "ms")
    report("kNN graph alone (forward) per step", 1e3 * knn_time() / N_STEPS, None, "ms")
    report("forward+backward per step", ms_per_step, None, "ms")
    report("peak RSS increase during steps (host)", (peak.peak - baseline) / MIB, None, "MiB")
    if gpu:
        report("peak GPU memory (get_memory_info)", tf.config.experimental.get_memory_info("GPU:0")["peak"] / MIB,
               None, "MiB")


if __name__ == "__main__":
    main()
