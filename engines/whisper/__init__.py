"""Whisper transcription on faster-whisper: VAD chunks decoded in batches, or Whisper's own loop."""
