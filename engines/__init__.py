"""Model work: Whisper and Piper engines, audio decode and encode, the model registry and its sources."""

import os

# Nothing in this process may phone home; these must be set before onnxruntime (Piper, Silero VAD)
# and huggingface_hub first load. onnxruntime since 1.29 uploads usage events from Linux too unless
# ORT_DISABLE_TELEMETRY is set when it initialises; the hub's own telemetry is off as well.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
