"""Peak memory of transcribing long audio in-process: it should not grow with the audio's length."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "data"
ENGLISH = ["jfk_ask_not.flac", "librivox_sense_and_sensibility_0880.mp3", "librivox_sense_and_sensibility_0930.webm"]


def child(minutes: float, model: str, windows: bool) -> None:
    """Runs in a fresh process so that VmHWM is this length's peak alone."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from engines.whisper import timeline

    if not windows:
        timeline.WINDOW_SECONDS = float("inf")

    from engines.audio.decode import WHISPER_RATE, decode
    from engines.base import TranscriptionOptions
    from engines.loader import ModelFiles, ModelLoader
    from engines.models.registry_files import load_registry
    from server.config import Settings

    settings = Settings.from_env()
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    transcriber = ModelLoader(registry, ModelFiles(settings.cache_dir)).transcriber(registry.models[model])
    speech = np.concatenate([decode(AUDIO / name) for name in ENGLISH])
    pause = np.zeros(WHISPER_RATE, dtype=np.float32)
    unit = np.concatenate([speech, pause])
    audio = np.tile(unit, int(minutes * 60 * WHISPER_RATE / len(unit)) + 1)[: int(minutes * 60 * WHISPER_RATE)]
    started = time.perf_counter()
    _, segments = transcriber.stream(audio, TranscriptionOptions(language="en"))
    count = sum(1 for _ in segments)
    elapsed = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
    print(
        json.dumps(
            {
                "minutes": minutes,
                "windows": windows,
                "segments": count,
                "seconds": round(elapsed, 1),
                "rtf": round(elapsed / (minutes * 60), 4),
                "peak_rss_mib": round(peak),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--model", default="local/whisper-tiny.en")
    parser.add_argument("--compare", action="store_true", help="also run without windows (whole-file decoding)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--no-windows", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.model, windows=not args.no_windows)
        return
    rows = []
    for minutes in args.minutes:
        for flags in [[], ["--no-windows"]] if args.compare else [[]]:
            command = [sys.executable, __file__, "--child", str(minutes), "--model", args.model, *flags]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{minutes:6.0f} min  windows={row['windows']!s:5}  peak RSS {row['peak_rss_mib']:5d} MiB  "
                f"RTF {row['rtf']:.3f}  ({row['segments']} segments)",
                flush=True,
            )
    print(json.dumps({"model": args.model, "runs": rows}))


if __name__ == "__main__":
    main()
