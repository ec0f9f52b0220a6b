"""Planing toy data: mass-correlated background features, sculpting, planing weights."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from dlphys.datasets import planing


@pytest.fixture(scope="module")
def events():
    return planing.simulate(40_000, seed=0)


def test_mass_spectra_are_a_peak_on_a_falling_background(events):
    m, y = events["x"][:, 0].astype(np.float64), events["y"]
    assert m.min() >= 60.0 and m.max() <= 200.0
    mean_b, std_b = planing.truncated_exponential_moments(40.0, 60.0, 200.0)
    n_b, n_s = np.sum(y == 0), np.sum(y == 1)
    # 4 standard errors of the sample means (std/sqrt(N) ~ 0.22 GeV background, 0.07 GeV signal)
    assert m[y == 0].mean() == pytest.approx(mean_b, abs=4 * std_b / np.sqrt(n_b))
    assert m[y == 1].mean() == pytest.approx(125.0, abs=4 * 10.0 / np.sqrt(n_s))
    assert m[y == 1].std() == pytest.approx(10.0, rel=0.03)  # relative error of a std ~ 1/sqrt(2N) = 0.5 %
    assert abs(y.mean() - 0.5) < 0.01  # binomial sigma 0.0025


def test_background_features_correlate_with_mass_and_signal_features_do_not(events):
    x, y = events["x"].astype(np.float64), events["y"]
    rho = {c: np.array([np.corrcoef(x[y == c, 0], x[y == c, i])[0, 1] for i in range(1, 5)]) for c in (0, 1)}
    # expected background correlations (0.45, 0.40, -0.34, 0); standard error of rho ~ 1/sqrt(20000) = 0.007
    assert np.all(np.abs(rho[0][:3]) > 0.3)
    np.testing.assert_allclose(rho[0][:3], [0.45, 0.40, -0.34], atol=0.03)
    assert abs(rho[0][3]) < 0.03
    assert np.all(np.abs(rho[1]) < 0.03)  # signal features are independent of the mass


def test_classifier_on_features_1_to_4_sculpts_background_towards_signal_mass(events):
    x, y = events["x"].astype(np.float64), events["y"]
    half = len(y) // 2
    clf = LogisticRegression().fit(x[:half, 1:], y[:half])
    score, y_test, m_test = clf.predict_proba(x[half:, 1:])[:, 1], y[half:], x[half:, 0]
    cut = np.quantile(score[y_test == 1], 0.5)  # 50 % signal efficiency
    background = m_test[y_test == 0]
    selected = m_test[(y_test == 0) & (score > cut)]
    shift = selected.mean() - background.mean()
    # ~1200 selected background events: the standard error of their mean mass is ~0.6 GeV
    assert shift > 10 * background.std() / np.sqrt(len(selected))
    assert abs(selected.mean() - 125.0) < 0.5 * abs(background.mean() - 125.0)  # moved half-way or more
    hist, edges = np.histogram(selected, bins=14, range=(60.0, 200.0))
    assert 100.0 <= edges[np.argmax(hist)] <= 130.0  # the falling spectrum became a bump near 125 GeV


def test_planing_weights_flatten_each_class_exactly(events):
    m, y = events["x"][:, 0], events["y"]
    w = planing.planing_weights(m, y, bins=20, range=(60.0, 200.0))
    for c in (0, 1):
        hist, _ = np.histogram(m[y == c], bins=20, range=(60.0, 200.0), weights=w[y == c])
        filled = hist > 0
        np.testing.assert_allclose(hist[filled], hist[filled].mean(), rtol=1e-9)  # flat up to round-off
        assert w[y == c].sum() == pytest.approx(np.sum(y == c), rel=1e-9)  # class totals are kept
    assert np.all(w > 0)


def test_planing_weights_from_one_sample_flatten_an_independent_one(events):
    ref, test = events, planing.simulate(40_000, seed=1)
    m, y = test["x"][:, 0], test["y"]
    edges = np.linspace(60.0, 200.0, 21)
    w = planing.planing_weights(m, y, bins=edges, reference=(ref["x"][:, 0], ref["y"]))
    for c in (0, 1):
        h_ref, _ = np.histogram(ref["x"][ref["y"] == c, 0], bins=edges)
        h_test, _ = np.histogram(m[y == c], bins=edges)
        h_weighted, _ = np.histogram(m[y == c], bins=edges, weights=w[y == c])
        use = (h_ref >= 20) & (h_test >= 20)  # Gaussian errors; the signal's far tails are empty
        expected = np.sum(y == c) / np.count_nonzero(h_ref)
        rel_var = 1.0 / h_ref[use] + 1.0 / h_test[use]  # both samples fluctuate
        chi2 = np.sum((h_weighted[use] / expected - 1.0) ** 2 / rel_var)
        assert stats.chi2.sf(chi2, use.sum()) > 1e-3, (c, chi2, use.sum())  # consistent with flat
        chi2_raw = np.sum((h_test[use] / h_test[use].mean() - 1.0) ** 2 / rel_var)
        assert stats.chi2.sf(chi2_raw, use.sum()) < 1e-6  # the test has power: unweighted is not flat


def test_events_outside_the_bins_get_zero_weight():
    x0 = np.array([50.0, 70.0, 80.0, 210.0, 90.0])
    y = np.array([0, 0, 0, 0, 1])
    w = planing.planing_weights(x0, y, bins=2, range=(60.0, 100.0))
    np.testing.assert_allclose(w, [0.0, 1.0, 1.0, 0.0, 1.0])


def test_same_seed_gives_same_events_and_other_seed_does_not():
    a, b, c = planing.simulate(100, seed=3), planing.simulate(100, seed=3), planing.simulate(100, seed=4)
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["y"], b["y"])
    assert not np.array_equal(a["x"], c["x"])
    assert a["x"].shape == (100, 5) and list(a["feature_names"]) == list(planing.FEATURE_NAMES)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must"),
        ({"n": 5, "window": (200, 60)}, "window must"),
        ({"n": 5, "correlations": (1.2, 0, 0)}, "correlations must"),
        ({"n": 5, "signal_fraction": 2}, "signal_fraction"),
        ({"n": 5, "signal_means": (1, 2)}, "signal_means must"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        planing.simulate(**kwargs)
    with pytest.raises(ValueError, match="x0 and y"):
        planing.planing_weights(np.zeros(3), np.zeros(4))


def test_load_caches_the_fast_data_set(data_dir):
    d = planing.load(fast=True)
    assert d["x"].shape == (planing.N_FAST, 5) and d["y"].shape == (planing.N_FAST,)
    np.testing.assert_array_equal(planing.load(fast=True)["x"], d["x"])
    assert len(list((data_dir / "planing").glob("*.npz"))) == 1


def test_signal_probability_is_calibrated_and_beats_a_cut_on_the_mass():
    data = planing.simulate(40_000, seed=11)
    prob = planing.signal_probability(data["x"])
    assert prob.shape == (40_000,) and np.all((prob >= 0) & (prob <= 1))
    # Calibrated: among events given P ≈ p, a fraction p is signal (the densities are the generator's own).
    bins = np.digitize(prob, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):
        sel = bins == b
        assert abs(data["y"][sel].mean() - prob[sel].mean()) < 0.03, b
    accuracy = np.mean((prob > 0.5) == data["y"])
    mass_cut = np.mean((np.abs(data["x"][:, 0] - 125.0) < 20.0) == data["y"])
    assert accuracy > mass_cut + 0.01 and accuracy > 0.85  # 0.897 against 0.874 at seed 11


def test_signal_probability_names_a_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        planing.signal_probability(np.zeros((3, 4)))
