"""Piper voices on onnxruntime: text to phonemes to audio, sentence by sentence."""
