"""Kokoro-family voices: Kokoro-82M and the models distilled from it, on onnxruntime with espeak-free front ends."""
