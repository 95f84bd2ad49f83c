"""Request parsing shared by both surfaces."""

from __future__ import annotations

import io

from starlette.datastructures import FormData, UploadFile

from server.parsing import transcription_request


def form(**fields: str) -> FormData:
    upload = UploadFile(io.BytesIO(b"x"), size=1, filename="a.wav")
    return FormData([("model", "whisper-1"), ("file", upload), *fields.items()])


def test_vad_default_applies_unless_the_request_says() -> None:
    assert transcription_request(form(), "json", "transcribe", vad_default=True)[0].options.vad_filter
    assert not transcription_request(form(), "json", "transcribe", vad_default=False)[0].options.vad_filter
    assert not transcription_request(form(vad_filter="false"), "json", "transcribe", True)[0].options.vad_filter
    assert transcription_request(form(vad_filter="true"), "json", "transcribe", False)[0].options.vad_filter


def test_subtitles_ask_for_word_timings_and_granularities_parse() -> None:
    request, view, _ = transcription_request(form(response_format="srt"), "json", "transcribe", False)
    assert request.options.word_timestamps and not view.words
    fields = {"response_format": "verbose_json", "timestamp_granularities[]": '["word", "segment"]'}
    request, view, _ = transcription_request(form(**fields), "json", "transcribe", False)
    assert view.words and view.segments and request.options.word_timestamps
