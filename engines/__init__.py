"""Model work: Whisper and Piper engines, audio decode and encode, the model registry and its sources."""

import os

# Nothing in this process may phone home; these must be set before onnxruntime (Piper, Silero VAD)
# and huggingface_hub first load. onnxruntime since 1.29 uploads usage events from Linux too unless
# ORT_DISABLE_TELEMETRY is set when it initialises; the hub's own telemetry is off as well.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# numpy's OpenBLAS threads each small matrix product (the speaker encoder's LSTM steps): on a busy 2-core
# machine that made the encoder 5-20x slower than one thread. Requests run side by side in worker threads,
# one core each, as the engines' own thread settings do; an explicit setting still wins. It holds only
# when this runs before numpy first loads, as it does in the server and the command line.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
