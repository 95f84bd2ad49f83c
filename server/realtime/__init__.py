"""Live transcription over OpenAI's realtime WebSocket protocol."""
