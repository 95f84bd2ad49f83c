"""The speaker encoder's front end: librosa's Slaney mel power spectrogram, in numpy alone."""

from __future__ import annotations

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

SAMPLE_RATE = 16000
N_FFT = 400
"""25 ms windows."""
HOP = 160
"""10 ms between frames."""
N_MELS = 40
HANN = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
"""The periodic Hann window that `scipy.signal.get_window("hann", N_FFT)` gives librosa."""


def filterbank() -> np.ndarray:
    """`librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)`: triangles on the Slaney mel scale from 0 Hz
    to Nyquist, each scaled to unit area; shape (40, 201). faster-whisper carries librosa's formula for
    Whisper's own 80 and 128 bands, and gives the same filters, bit for bit, for 40."""
    bank: np.ndarray = FeatureExtractor.get_mel_filters(SAMPLE_RATE, N_FFT, N_MELS).astype(np.float32)
    return bank


def mel_power(audio: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """`librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=400, hop_length=160, n_mels=40)`,
    transposed to (frames, mels): a periodic Hann window, frames centred on every hop with the signal
    zero-padded at both ends (librosa's `center=True`; faster-whisper's own STFT reflects them instead),
    power (not log) spectra through `bank`."""
    padded = np.pad(np.asarray(audio, dtype=np.float32), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * HANN, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mels: np.ndarray = power @ bank.T
    return mels
