"""Radio traces of air showers: band-limited pulses in Galactic noise and radio interference.

Exercise 9.2 denoises and classifies the voltage traces of a radio antenna of a cosmic-ray
observatory (such as AERA at the Pierre Auger Observatory or LOFAR) with recurrent and
convolutional networks. Each trace has ``n_samples`` = 500 samples at ``sampling_rate`` =
180 MHz (Δt = 5.56 ns, 2.78 µs per trace, Nyquist frequency 90 MHz); the receiver passes the
band 30-80 MHz. Half the traces contain an air-shower pulse (label 1), half are noise only.

Amplitude unit
    Traces are dimensionless, in units of the **expected RMS of the Galactic noise** (a real
    antenna would give µV; the scale factor is irrelevant for the exercise). Sky noise alone
    thus has ⟨x²⟩ = 1 per sample (tested).

Band-pass filter
    Every component passes the same receiver filter, applied in the frequency domain
    (``numpy.fft.rfft``) as a raised-cosine (Tukey) window :func:`bandpass`: H(f) = 1 for
    30 + w ≤ f ≤ 80 - w MHz, rolling off as ½(1 - cos) to exactly 0 at 30 and 80 MHz
    (w = ``taper`` = 5 MHz). All power lies inside 30-80 MHz by construction (tested to 1e-6).
    Because the traces are synthesised by inverse FFT they are periodic: a pulse never sits
    closer than ``pulse_margin`` (10 %) of the trace to an edge, so its filter ringing does
    not wrap around.

Galactic noise
    Complex Gaussian noise in every frequency bin with power spectral density ∝ f^-β,
    β = ``sky_index`` = 2.5: the Galactic synchrotron background has a brightness temperature
    T_b ∝ ν^-β with β ≈ 2.5 between 45 and 408 MHz (Guzmán et al. 2011; Cane 1979), and a
    matched antenna receives a noise power k_B T per unit bandwidth. After filtering, the noise
    is scaled so that its expected RMS is 1.

Radio-frequency interference (RFI)
    Each trace gets k narrow-band lines, k uniform in {0, ..., ``n_rfi_max``} (default 3),
    A sin(2π f_c t + φ) with carrier f_c uniform in the flat part of the band (35-75 MHz),
    phase φ uniform in [0, 2π) and amplitude A uniform in ``rfi_amplitude`` = [0.1, 1.0]
    (in units of the Galactic-noise RMS), filtered like everything else. On average the lines
    add 1.5 · ⟨A²⟩/2 = 0.28 to the mean square, so the total noise RMS is about 1.13.

Air-shower pulse (label 1)
    A short broadband pulse, band-limited by the filter: spectrum
    P(f) = H(f) · exp(-f / f_s) · exp(i(φ₀ - 2π f t₀)), with spectral fall-off f_s uniform in
    ``pulse_slope`` = [40, 200] MHz (air-shower spectra fall with frequency in 30-80 MHz,
    Huege 2016), constant phase φ₀ uniform in [0, 2π) (the pulse shape varies from symmetric
    to antisymmetric) and arrival time t₀ uniform in the central 80 % of the trace (returned as
    ``pulse_time`` [ns]; the Hilbert envelope peaks there).

Signal-to-noise ratio
    SNR = max_t |hilbert(signal)(t)| / RMS(noise), where the noise is the sky noise plus RFI
    of the same trace (``traces - signals``) and ``hilbert`` is ``scipy.signal.hilbert`` on
    the sampled signal. The pulse is scaled to a drawn SNR, log-uniform in ``snr_range`` =
    [2, 20] (density ∝ 1/SNR), so the value recomputed from the data equals ``snr`` up to
    float32 rounding (tested, also with a Kolmogorov-Smirnov test of the law). Noise-only
    traces have ``snr`` = 0 and ``signals`` = 0.

Outputs of :func:`simulate`
    ``traces`` (n, n_samples) float32 = noise + signal; ``signals`` (n, n_samples) float32,
    the clean filtered pulse (0 for noise only); ``label`` (n,) int64, 1 = contains a pulse,
    exactly round(signal_fraction · n) of them in random order; ``snr`` (n,) float32;
    ``pulse_time`` (n,) float32 [ns] from the trace start, NaN for noise only.

References
    T. Huege, "Radio detection of cosmic ray air showers in the digital era", Phys. Rep. 620
    (2016) 1, arXiv:1601.07426.
    A. E. Guzmán, J. May, H. Alvarez, K. Maeda, "All-sky Galactic radiation at 45 MHz and
    spectral index between 45 and 408 MHz", Astron. Astrophys. 525 (2011) A138.
    H. V. Cane, "Spectra of the non-thermal radio radiation from the galactic polar regions",
    Mon. Not. R. Astron. Soc. 189 (1979) 465.
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics Research*
    (World Scientific, 2021), exercise 9.2.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import hilbert
from tqdm import tqdm

from dlphys import config
from dlphys.datasets._cache import cached

#: Generator version; bump when :func:`simulate` changes its output.
VERSION = 1

#: Default sizes of :func:`load` (full mode, fast mode).
N_FULL = 100_000
N_FAST = 2_000
SEED = 902

_CHUNK = 8192  # traces synthesised at once (bounds the memory to ~100 MB)


def bandpass(frequencies: np.ndarray, band: tuple[float, float] = (30e6, 80e6), taper: float = 5e6) -> np.ndarray:
    """Raised-cosine band-pass gain H(f) in [0, 1] at ``frequencies`` [Hz] (same shape).

    H = 1 inside [band[0] + taper, band[1] - taper], ½(1 - cos(π Δ/taper)) over the distance Δ
    from the nearer band edge within ``taper``, and exactly 0 outside ``band`` [Hz].
    """
    f = np.asarray(frequencies, dtype=np.float64)
    lo, hi = band
    if taper == 0:
        return ((f >= lo) & (f <= hi)).astype(np.float64)
    dist = np.clip(np.minimum(f - lo, hi - f) / taper, 0.0, 1.0)  # 0 at/outside the edges, 1 in the flat part
    return 0.5 * (1.0 - np.cos(np.pi * dist))


def _check(
    n,
    n_samples,
    sampling_rate,
    signal_fraction,
    band,
    taper,
    sky_index,
    snr_range,
    n_rfi_max,
    rfi_amplitude,
    pulse_slope,
    pulse_margin,
) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer number of traces, got {n!r}")
    if int(n_samples) != n_samples or n_samples < 16:
        raise ValueError(f"n_samples must be an integer >= 16, got {n_samples!r}")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate must be positive (Hz), got {sampling_rate}")
    if not 0.0 <= signal_fraction <= 1.0:
        raise ValueError(f"signal_fraction must lie in [0, 1] (fraction of traces with a pulse), got {signal_fraction}")
    lo, hi = band
    nyquist = sampling_rate / 2
    if not 0.0 < lo < hi < nyquist:
        raise ValueError(f"band must satisfy 0 < band[0] < band[1] < Nyquist = {nyquist:g} Hz, got {band}")
    if (hi - lo) < 4 * sampling_rate / n_samples:
        raise ValueError(
            f"band {band} Hz is narrower than 4 frequency bins of {sampling_rate / n_samples:g} Hz; "
            f"use more samples or a wider band"
        )
    if not 0.0 <= taper <= (hi - lo) / 2:
        raise ValueError(f"taper must lie in [0, (band[1] - band[0]) / 2] = [0, {(hi - lo) / 2:g}] Hz, got {taper}")
    if not np.isfinite(sky_index):
        raise ValueError(f"sky_index must be a finite spectral index, got {sky_index}")
    if not 0.0 < snr_range[0] <= snr_range[1]:
        raise ValueError(f"snr_range must satisfy 0 < low <= high, got {snr_range}")
    if int(n_rfi_max) != n_rfi_max or n_rfi_max < 0:
        raise ValueError(f"n_rfi_max must be a non-negative integer, got {n_rfi_max!r}")
    if not 0.0 <= rfi_amplitude[0] <= rfi_amplitude[1]:
        raise ValueError(f"rfi_amplitude must satisfy 0 <= low <= high (noise-RMS units), got {rfi_amplitude}")
    if not 0.0 < pulse_slope[0] <= pulse_slope[1]:
        raise ValueError(f"pulse_slope must satisfy 0 < low <= high (Hz), got {pulse_slope}")
    if not 0.0 <= pulse_margin < 0.5:
        raise ValueError(f"pulse_margin must lie in [0, 0.5) (fraction of the trace), got {pulse_margin}")


def simulate(
    n: int,
    n_samples: int = 500,
    sampling_rate: float = 180e6,
    seed: int = 0,
    *,
    signal_fraction: float = 0.5,
    band: tuple[float, float] = (30e6, 80e6),
    taper: float = 5e6,
    sky_index: float = 2.5,
    snr_range: tuple[float, float] = (2.0, 20.0),
    n_rfi_max: int = 3,
    rfi_amplitude: tuple[float, float] = (0.1, 1.0),
    pulse_slope: tuple[float, float] = (40e6, 200e6),
    pulse_margin: float = 0.1,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Simulate ``n`` radio traces (see the module docstring for the model).

    Args:
        n: number of traces.
        n_samples: samples per trace.
        sampling_rate: [Hz].
        seed: seed of ``np.random.default_rng``.
        signal_fraction: fraction of traces with a pulse (exactly round(signal_fraction · n)).
        band: receiver pass band [Hz].
        taper: width of the raised-cosine filter edges inside ``band`` [Hz].
        sky_index: β of the Galactic-noise power spectrum ∝ f^-β.
        snr_range: (low, high) of the log-uniform SNR law.
        n_rfi_max: at most this many RFI lines per trace.
        rfi_amplitude: (low, high) of the uniform RFI line amplitude [Galactic-noise RMS].
        pulse_slope: (low, high) of the uniform spectral fall-off f_s of the pulse [Hz].
        pulse_margin: pulses start no closer than this fraction of the trace to either end.
        progress: show a tqdm bar over blocks of 8,192 traces.

    Returns:
        dict with ``traces``, ``signals`` (n, n_samples), ``label``, ``snr``, ``pulse_time`` [ns] (n,).
    """
    _check(
        n,
        n_samples,
        sampling_rate,
        signal_fraction,
        band,
        taper,
        sky_index,
        snr_range,
        n_rfi_max,
        rfi_amplitude,
        pulse_slope,
        pulse_margin,
    )
    n, n_samples, n_rfi_max = int(n), int(n_samples), int(n_rfi_max)
    rng = np.random.default_rng(seed)
    freq = np.fft.rfftfreq(n_samples, d=1.0 / sampling_rate)
    time = np.arange(n_samples) / sampling_rate
    gain = bandpass(freq, band, taper)

    # Sky-noise amplitude per bin, scaled so that E[x_t^2] = 1 after irfft:
    # Var(x_t) = (2 / N^2) * sum_k amp_k^2 (DC and Nyquist bins have zero gain).
    sky = np.zeros_like(freq)
    inside = gain > 0
    sky[inside] = gain[inside] * (freq[inside] / 50e6) ** (-sky_index / 2)
    sky *= n_samples / np.sqrt(2.0 * np.sum(sky**2))

    # Per-trace parameters, drawn up front.
    n_pulse = round(signal_fraction * n)
    label = np.zeros(n, dtype=np.int64)
    label[rng.permutation(n)[:n_pulse]] = 1
    snr = np.where(label == 1, np.exp(rng.uniform(np.log(snr_range[0]), np.log(snr_range[1]), size=n)), 0.0)
    duration = n_samples / sampling_rate
    t0 = rng.uniform(pulse_margin * duration, (1.0 - pulse_margin) * duration, size=n)
    phase0 = rng.uniform(0.0, 2.0 * np.pi, size=n)
    f_slope = rng.uniform(pulse_slope[0], pulse_slope[1], size=n)
    n_lines = rng.integers(0, n_rfi_max + 1, size=n)
    f_flat = (band[0] + taper, band[1] - taper)
    rfi_f = rng.uniform(f_flat[0], f_flat[1], size=(n, n_rfi_max))
    rfi_phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, n_rfi_max))
    rfi_amp = rng.uniform(rfi_amplitude[0], rfi_amplitude[1], size=(n, n_rfi_max))
    rfi_amp = np.where(np.arange(n_rfi_max) < n_lines[:, None], rfi_amp, 0.0)

    traces = np.empty((n, n_samples), dtype=np.float32)
    signals = np.zeros((n, n_samples), dtype=np.float32)
    for start in tqdm(range(0, n, _CHUNK), desc="radio traces", unit="block", disable=not progress, leave=False):
        sl = slice(start, min(start + _CHUNK, n))
        m = sl.stop - sl.start
        spec = (rng.normal(size=(m, freq.size)) + 1j * rng.normal(size=(m, freq.size))) * (sky / np.sqrt(2.0))
        if n_rfi_max:
            lines = rfi_amp[sl, :, None] * np.sin(2 * np.pi * rfi_f[sl, :, None] * time + rfi_phase[sl, :, None])
            spec += np.fft.rfft(lines.sum(axis=1), axis=-1) * gain
        noise = np.fft.irfft(spec, n=n_samples, axis=-1)

        pulse = np.zeros_like(noise)
        rows = np.flatnonzero(label[sl] == 1)
        if rows.size:
            idx = sl.start + rows
            p_spec = (
                gain
                * np.exp(-freq / f_slope[idx, None])
                * np.exp(1j * (phase0[idx, None] - 2 * np.pi * freq * t0[idx, None]))
            )
            unit = np.fft.irfft(p_spec, n=n_samples, axis=-1)
            peak = np.abs(hilbert(unit, axis=-1)).max(axis=-1)
            rms = np.sqrt(np.mean(noise[rows] ** 2, axis=-1))
            pulse[rows] = unit * (snr[idx] * rms / peak)[:, None]
        traces[sl] = noise + pulse
        signals[sl] = pulse

    return {
        "traces": traces,
        "signals": signals,
        "label": label,
        "snr": snr.astype(np.float32),
        "pulse_time": np.where(label == 1, t0 * 1e9, np.nan).astype(np.float32),
    }


def load(fast: bool | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """The default radio dataset: 100,000 traces (2,000 in fast mode), half with pulses, cached.

    Returns the dict of :func:`simulate` with its default parameters and seed 902.
    """
    fast = config.fast_mode() if fast is None else fast
    n = N_FAST if fast else N_FULL
    params = {
        "n": n,
        "n_samples": 500,
        "sampling_rate": 180e6,
        "seed": SEED,
        "signal_fraction": 0.5,
        "band": (30e6, 80e6),
        "taper": 5e6,
        "sky_index": 2.5,
        "snr_range": (2.0, 20.0),
        "n_rfi_max": 3,
        "rfi_amplitude": (0.1, 1.0),
        "pulse_slope": (40e6, 200e6),
        "pulse_margin": 0.1,
    }
    return cached("radio", params, lambda: simulate(**params, progress=not fast), version=VERSION, refresh=refresh)
