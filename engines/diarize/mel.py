"""The speaker encoder's front end: librosa's Slaney mel power spectrogram, in numpy alone."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
"""25 ms windows."""
HOP = 160
"""10 ms between frames."""
N_MELS = 40


def filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """`librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)`: triangles on the Slaney mel
    scale from 0 Hz to Nyquist, each scaled to unit area (Slaney norm); shape (n_mels, n_fft // 2 + 1)."""
    bins = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    bank: np.ndarray = weights.astype(np.float32)
    return bank


def mel_power(audio: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """`librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=400, hop_length=160, n_mels=40)`,
    transposed to (frames, mels): a periodic Hann window, frames centred on every hop with the signal
    zero-padded at both ends (librosa's `center=True`), power (not log) spectra through `bank`."""
    padded = np.pad(np.asarray(audio, dtype=np.float32), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * _hann(N_FFT), axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mels: np.ndarray = power @ bank.T
    return mels


def _hann(length: int) -> np.ndarray:
    """The periodic Hann window that `scipy.signal.get_window("hann", length)` gives librosa."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float32)


# Slaney's mel scale (librosa's default, `htk=False`): linear below 1 kHz, logarithmic above.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    if hz < _BREAK_HZ:
        return hz / _LINEAR_HZ_PER_MEL
    return float(_BREAK_MEL + np.log(hz / _BREAK_HZ) / _LOG_STEP)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    linear = mels * _LINEAR_HZ_PER_MEL
    logarithmic = _BREAK_HZ * np.exp(_LOG_STEP * (mels - _BREAK_MEL))
    result: np.ndarray = np.where(mels >= _BREAK_MEL, logarithmic, linear)
    return result
