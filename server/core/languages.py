"""A request's voice against the language it must speak: moved to a voice of the language the request asks
for, or refused with the voices that can speak the text, never left to spell it out letter by letter."""

from __future__ import annotations

from engines.models.registry import VoiceMapping
from engines.text.scripts import primary, readers, reads, written_in
from server.core.served import Served
from server.errors import ApiError, bad_request, quoted


def for_language(served: Served, mapping: VoiceMapping, asked: str, text: str, language: str | None) -> VoiceMapping:
    """The voice to speak `text` with: `mapping` (what the name `asked` resolved to) where it speaks the
    request's `language` (or, with none given, can read the text's letters); else, for a `language`, an
    installed voice that speaks it, of the same gender where one is. Pure: raises the 400 to send."""
    voice = served.registry.voices.get(mapping.voice)
    speaks = voice.speaks if voice is not None else ""
    if language:
        if speaks and primary(speaks) == primary(language):
            return mapping
        gender = voice.gender if voice is not None else ""
        found = _speaking_any(served, frozenset({primary(language)}))
        if not found:
            spoken = sorted({primary(lang) for lang in _languages(served).values() if lang})
            raise bad_request(
                "unsupported_language",
                f"No voice here speaks {quoted(language)}; the installed voices speak {', '.join(spoken)}",
                "language",
            )
        chosen = next((name for name in found if served.registry.voices[name].gender == gender), found[0])
        return VoiceMapping(name=mapping.name, voice=chosen)
    if not speaks or reads(speaks, text):
        return mapping
    raise _cannot_read(served, asked, mapping, speaks, text)


def _cannot_read(served: Served, asked: str, mapping: VoiceMapping, speaks: str, text: str) -> ApiError:
    letters = written_in(text)
    spoken_by = quoted(asked) + (f" ({mapping.voice})" if asked != mapping.voice else "")
    able = _speaking_any(served, readers(text) or frozenset())
    if not able:
        return bad_request(
            "unsupported_language",
            f"The voice {spoken_by} speaks {speaks}, and 'input' is written in {letters}, which no voice "
            "installed here can speak",
            "input",
        )
    language = primary(served.registry.voices[able[0]].speaks)
    return bad_request(
        "unsupported_language",
        f"The voice {spoken_by} speaks {speaks}, and 'input' is written in {letters}: ask for "
        f'"language": "{language}", or choose a voice that speaks it: {", ".join(able)}',
        "voice",
    )


def _languages(served: Served) -> dict[str, str]:
    return {name: served.registry.voices[name].speaks for name in sorted(served.installed.voices)}


def _speaking_any(served: Served, languages: frozenset[str]) -> list[str]:
    """Installed voices that speak one of `languages` (primary tags), by name."""
    return [name for name, spoken in _languages(served).items() if spoken and primary(spoken) in languages]
