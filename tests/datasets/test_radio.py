"""Tests of the radio-trace simulator (dlphys.datasets.radio)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.signal import hilbert

from dlphys.datasets import radio

FS = 180e6
N_SAMPLES = 500


@pytest.fixture(scope="module")
def data():
    """2,000 traces with the default model."""
    return radio.simulate(2000, seed=21)


def _in_band_fraction(x, band=(30e6, 80e6)):
    """Fraction of the total spectral power of traces ``x`` (n, N) inside ``band`` (edges included)."""
    power = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64), axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], d=1.0 / FS)
    inside = (f >= band[0]) & (f <= band[1])
    return power[:, inside].sum() / power.sum()


def test_shapes_and_dtypes(data):
    assert data["traces"].shape == data["signals"].shape == (2000, N_SAMPLES)
    assert data["traces"].dtype == data["signals"].dtype == np.float32
    assert data["label"].shape == data["snr"].shape == data["pulse_time"].shape == (2000,)


def test_noise_and_pulse_power_lie_inside_30_to_80_mhz(data):
    noise = data["traces"] - data["signals"]
    pulses = data["signals"][data["label"] == 1]
    # The filter is exactly zero outside the band, so only float32 rounding (relative power ~1e-14)
    # can leak; 1e-6 is far below any real filter roll-off (a 10th-order Butterworth leaks ~5 %).
    for x in (noise, pulses, data["traces"]):
        assert _in_band_fraction(x) > 1 - 1e-6
    # and the band is really used: more than half the power lies in the flat part 35-75 MHz
    assert _in_band_fraction(noise, (35e6, 75e6)) > 0.5


def test_galactic_noise_spectrum_falls_with_the_sky_index():
    d = radio.simulate(500, seed=22, signal_fraction=0.0, n_rfi_max=0, sky_index=2.5)
    power = np.mean(np.abs(np.fft.rfft(d["traces"].astype(np.float64), axis=-1)) ** 2, axis=0)
    f = np.fft.rfftfreq(N_SAMPLES, d=1.0 / FS)
    flat = (f >= 35e6) & (f <= 75e6)
    slope = np.polyfit(np.log(f[flat]), np.log(power[flat]), 1)[0]
    # each bin's mean power has a 1/sqrt(500) = 4.5 % error over 111 bins; the slope error is ~0.02
    assert slope == pytest.approx(-2.5, abs=0.1)


def test_sky_noise_has_unit_rms():
    d = radio.simulate(1000, seed=23, signal_fraction=0.0, n_rfi_max=0)
    ms = np.mean(d["traces"].astype(np.float64) ** 2)
    # ~280 independent samples per band-limited trace (2 B T): the mean square of 1000 traces has a
    # relative error of ~0.3 %; 2 % is > 5 sigma
    assert ms == pytest.approx(1.0, rel=0.02)


def test_labels_are_exactly_balanced_and_shuffled(data):
    assert data["label"].sum() == 1000
    assert 0 < data["label"][:1000].sum() < 1000
    odd = radio.simulate(7, seed=1, signal_fraction=0.5)["label"]
    assert odd.sum() == round(0.5 * 7)


def test_snr_follows_the_documented_log_uniform_law(data):
    snr = data["snr"][data["label"] == 1].astype(np.float64)
    assert snr.min() >= 2.0 * (1 - 1e-6) and snr.max() <= 20.0 * (1 + 1e-6)  # float32 rounding
    assert np.all(data["snr"][data["label"] == 0] == 0)
    # log(SNR) ~ U(log 2, log 20); KS p > 1e-3 (false alarm 0.1 %)
    lo, hi = np.log(2.0), np.log(20.0)
    assert stats.kstest(np.log(snr), "uniform", args=(lo, hi - lo)).pvalue > 1e-3


def test_snr_recomputed_from_the_data_matches_the_drawn_value(data):
    pulse = data["label"] == 1
    signals = data["signals"][pulse].astype(np.float64)
    noise = (data["traces"][pulse] - data["signals"][pulse]).astype(np.float64)
    realised = np.abs(hilbert(signals, axis=-1)).max(axis=-1) / np.sqrt(np.mean(noise**2, axis=-1))
    # same definition as the simulator; only float32 storage differs (relative ~1e-6)
    np.testing.assert_allclose(realised, data["snr"][pulse], rtol=1e-4)


def test_signals_are_zero_exactly_for_noise_only_traces(data):
    assert np.all(data["signals"][data["label"] == 0] == 0)
    assert np.all(np.abs(data["signals"][data["label"] == 1]).max(axis=1) > 0)
    assert np.all(np.isnan(data["pulse_time"][data["label"] == 0]))


def test_pulse_envelope_peaks_at_the_pulse_time_inside_the_margin(data):
    pulse = data["label"] == 1
    peak = np.argmax(np.abs(hilbert(data["signals"][pulse].astype(np.float64), axis=-1)), axis=-1)
    t0 = data["pulse_time"][pulse] * 1e-9 * FS  # in samples
    # the sampled envelope peaks at the sample nearest t0 (half a sample, plus rounding)
    assert np.all(np.abs(peak - t0) <= 0.5 + 1e-3)
    assert t0.min() >= 0.1 * N_SAMPLES and t0.max() <= 0.9 * N_SAMPLES


def test_traces_minus_signals_are_like_noise_only_traces(data):
    pulse = data["label"] == 1
    residual = (data["traces"][pulse] - data["signals"][pulse]).astype(np.float64)
    noise_only = data["traces"][~pulse].astype(np.float64)

    def rms(x):
        return np.sqrt(np.mean(x**2, axis=-1))

    def peak_over_rms(x):
        return np.abs(hilbert(x, axis=-1)).max(axis=-1) / rms(x)

    # Two-sample KS, 1000 vs 1000 traces; p > 1e-3 (false alarm 0.1 %). A left-over pulse of
    # SNR >= 2 would shift the peak/RMS distribution by far more.
    assert stats.ks_2samp(rms(residual), rms(noise_only)).pvalue > 1e-3
    assert stats.ks_2samp(peak_over_rms(residual), peak_over_rms(noise_only)).pvalue > 1e-3
    # the full traces with pulses are clearly not noise-like by the same statistic
    assert (
        stats.ks_2samp(peak_over_rms(data["traces"][pulse].astype(np.float64)), peak_over_rms(noise_only)).pvalue < 1e-6
    )
    assert abs(residual.mean()) < 0.01  # zero-mean: no DC passes the filter


def test_rfi_lines_add_narrow_spectral_peaks():
    quiet = radio.simulate(300, seed=24, signal_fraction=0.0, n_rfi_max=0)
    loud = radio.simulate(300, seed=24, signal_fraction=0.0, n_rfi_max=3, rfi_amplitude=(1.0, 1.0))
    # 0-3 lines of amplitude 1 add on average 1.5 * 1/2 = 0.75 to the mean square (1.0 without)
    ms_quiet = np.mean(quiet["traces"].astype(np.float64) ** 2)
    ms_loud = np.mean(loud["traces"].astype(np.float64) ** 2)
    assert ms_loud - ms_quiet == pytest.approx(0.75, abs=0.15)  # binomial spread of line counts

    # narrow: the strongest bin of a trace holds far more power than in pure sky noise
    def max_bin_share(x):
        p = np.abs(np.fft.rfft(x.astype(np.float64), axis=-1)) ** 2
        return np.median(p.max(axis=-1) / p.sum(axis=-1))

    assert max_bin_share(loud["traces"]) > 3 * max_bin_share(quiet["traces"])


def test_simulation_is_reproducible_and_seed_dependent():
    a, b = radio.simulate(20, seed=5), radio.simulate(20, seed=5)
    c = radio.simulate(20, seed=6)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["traces"], c["traces"])


def test_bandpass_is_one_in_the_flat_part_and_zero_outside():
    f = np.array([0.0, 29.9e6, 30e6, 32.5e6, 35e6, 55e6, 75e6, 80e6, 85e6])
    np.testing.assert_allclose(radio.bandpass(f), [0, 0, 0, 0.5, 1, 1, 1, 0, 0], atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n": 0}, "n must"),
        ({"n_samples": 8}, "n_samples"),
        ({"sampling_rate": -1.0}, "sampling_rate"),
        ({"signal_fraction": -0.5}, "signal_fraction"),
        ({"band": (30e6, 100e6)}, "band"),
        ({"band": (50e6, 40e6)}, "band"),
        ({"taper": 30e6}, "taper"),
        ({"snr_range": (0.0, 10.0)}, "snr_range"),
        ({"n_rfi_max": -1}, "n_rfi_max"),
        ({"rfi_amplitude": (1.0, 0.5)}, "rfi_amplitude"),
        ({"pulse_slope": (0.0, 1e8)}, "pulse_slope"),
        ({"pulse_margin": 0.5}, "pulse_margin"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, argument):
    args = {"n": 4} | kwargs
    with pytest.raises(ValueError, match=argument):
        radio.simulate(**args)


def test_load_fast_builds_the_cache_once(data_dir):
    first = radio.load(fast=True)
    assert first["traces"].shape == (radio.N_FAST, N_SAMPLES)
    assert first["label"].sum() == radio.N_FAST // 2
    assert len(list((data_dir / "radio").glob("*.npz"))) == 1
    again = radio.load(fast=True)
    np.testing.assert_array_equal(first["traces"], again["traces"])


def test_plot_helpers_label_time_and_frequency_axes(data):
    import matplotlib.pyplot as plt

    from dlphys.plotting import plot_spectrum, plot_trace

    i = int(np.flatnonzero(data["label"] == 1)[0])
    ax = plot_trace(data["traces"][i], data["signals"][i], sampling_rate=FS)
    assert ax.get_xlabel() == "time t [ns]"
    assert ax.lines[0].get_xdata()[-1] == pytest.approx((N_SAMPLES - 1) / FS * 1e9)
    ax = plot_spectrum(data["traces"][:10], sampling_rate=FS)
    assert "MHz" in ax.get_xlabel()
    # Parseval: PSD summed over bins of width fs/N equals the mean square of the traces
    psd = ax.lines[0].get_ydata()
    ms = np.mean(data["traces"][:10].astype(np.float64) ** 2)
    assert psd.sum() * FS / 1e6 / N_SAMPLES == pytest.approx(ms, rel=1e-6)
    plt.close("all")


def test_progress_bar_is_shown_on_request_and_changes_nothing(capsys):
    quiet = radio.simulate(20, seed=3)
    shown = radio.simulate(20, seed=3, progress=True)
    assert "radio traces" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet["traces"], shown["traces"])
