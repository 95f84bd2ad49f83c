"""Audio in and out: decoding uploads, encoding speech, levels, and time-stretching."""
