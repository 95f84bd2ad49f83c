"""Speaker diarization: who spoke when, from pyannote segmentation and GE2E speaker embeddings."""
