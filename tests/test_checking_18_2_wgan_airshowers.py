"""dlphys.checking.footprint_distances and novelty_ratio, the visible checks of Exercise 18.2's generator."""

import numpy as np
import pytest

from dlphys.checking import footprint_distances, novelty_ratio
from dlphys.datasets import airshower


def test_a_sample_has_distance_zero_to_itself():
    signal = airshower.simulate(200, seed=3)["signal"]
    assert footprint_distances(signal, signal) == {"n_triggered": 0.0, "log10_total_signal": 0.0}


def test_ten_times_the_signal_is_one_dex_away_with_the_same_stations():
    signal = airshower.simulate(200, seed=4)["signal"]  # every total is above 9 VEM (3 stations of >= 3 VEM)
    d = footprint_distances(10 * signal, signal)
    # each footprint's log10 total moves by exactly 1; scipy integrates the CDFs, rounding to about 1e-10
    assert d["n_triggered"] == 0.0
    assert d["log10_total_signal"] == pytest.approx(1.0, abs=1e-8)


def test_one_more_station_per_footprint_is_one_station_away():
    a = np.zeros((50, 9, 9))
    a[:, 4, 4] = 100.0
    b = a.copy()
    b[:, 0, 0] = 3.0  # one more triggered station, the total signal changes by 3 %
    d = footprint_distances(b, a)
    assert d["n_triggered"] == pytest.approx(1.0)
    assert d["log10_total_signal"] == pytest.approx(np.log10(103 / 100))


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="footprints"):
        footprint_distances(np.zeros((5, 81)), np.zeros((5, 9, 9)))


@pytest.fixture(scope="module")
def showers():
    """Training, reference and "generated" footprints: three independent simulated samples."""
    return [airshower.simulate(n, seed=s)["signal"] for n, s in ((3000, 5), (300, 6), (300, 7))]


def test_new_simulated_footprints_are_as_novel_as_the_reference(showers):
    training, reference, new = showers
    assert 0.8 < novelty_ratio(new, training, reference) < 1.25


def test_copies_of_training_footprints_have_novelty_zero_and_smeared_copies_little(showers):
    training, reference, _ = showers
    copies = training[np.random.default_rng(0).integers(0, len(training), 300)]
    assert novelty_ratio(copies, training, reference) == 0.0
    smeared = np.where(copies > 0, np.maximum(copies * np.random.default_rng(1).lognormal(0, 0.1, copies.shape), 3), 0)
    assert novelty_ratio(smeared, training, reference) < 0.5


def test_novelty_refuses_flat_footprints(showers):
    with pytest.raises(ValueError, match="generated must be footprints"):
        novelty_ratio(np.zeros((5, 81)), *showers[:2])
