"""onnxruntime sessions for the engines that run ONNX models (Piper, Kokoro, the speaker segmentation).

onnxruntime's telemetry is off: `engines/__init__.py` sets ORT_DISABLE_TELEMETRY before it loads.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime


def session(model: Path, use_cuda: bool = False, threads: int = 0, quiet: bool = False) -> onnxruntime.InferenceSession:
    """A session on the CPU, or on CUDA first where asked. `threads`: onnxruntime's intra-op count (0: its
    own choice), one op at a time beside it; `quiet` leaves only onnxruntime's errors in the log."""
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if quiet:
        options.log_severity_level = 3
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=providers)
