"""Keras callbacks shared by the notebooks.

:class:`EpochTimer` records how long each epoch of ``model.fit`` takes, in wall-clock and in CPU
seconds (exercises 9.1 and 9.2 compare the cost of network designs). On a shared machine the
wall-clock time depends on the load; the CPU time of the process does much less.
"""

from __future__ import annotations

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records the duration of every epoch: ``seconds`` (wall clock) and ``cpu_seconds`` (process CPU), in s.

    The first epoch also builds the computation graph; leave it out of averages
    (``np.median(timer.seconds[1:])``).

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(loss="mse")
        >>> timer = EpochTimer()
        >>> _ = model.fit(np.zeros((8, 2)), np.zeros(8), epochs=3, verbose=0, callbacks=[timer])
        >>> len(timer.seconds), len(timer.cpu_seconds)
        (3, 3)
    """

    def on_train_begin(self, logs=None):
        self.seconds, self.cpu_seconds = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.cpu_seconds.append(time.process_time() - self._cpu_start)
