"""Keras callbacks of the notebooks."""

import doctest
import time

import keras
import numpy as np

from dlphys import callbacks
from dlphys.callbacks import EpochTimer


class _Sleep(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.05 * epoch)


def test_epoch_timer_measures_each_epoch_and_restarts_with_each_fit():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    timer = EpochTimer()
    # the sleeping callback runs before the timer's on_epoch_end: epoch e lasts at least 0.05 e s of wall time
    model.fit(np.zeros((8, 2)), np.zeros(8), epochs=4, verbose=0, callbacks=[_Sleep(), timer])
    assert len(timer.seconds) == len(timer.cpu_seconds) == 4
    assert all(s >= 0.05 * e for e, s in enumerate(timer.seconds))
    # sleeping costs wall time, not CPU time: the last epoch's CPU time stays well below its 0.15 s sleep
    assert timer.cpu_seconds[3] < timer.seconds[3] - 0.1
    model.fit(np.zeros((8, 2)), np.zeros(8), epochs=2, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 2


def test_docstring_example_runs():
    assert doctest.testmod(callbacks).failed == 0
