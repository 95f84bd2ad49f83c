"""The registry as this machine can serve it now: the installed models, and voice names as they map."""

from __future__ import annotations

from dataclasses import dataclass, field

from engines.models.inventory import Installed
from engines.models.registry import ModelEntry, Registry, VoiceMapping


@dataclass(frozen=True)
class Served:
    registry: Registry
    installed: Installed
    allow_download: bool = False
    """Hub models that are not downloaded yet still count as servable: they download on first use."""
    voice_map: dict[str, VoiceMapping] = field(init=False)
    """Each voice name on the voice it uses here: the first of its preferred voices that is installed,
    else its fallback; names whose voice is not installed at all are left out."""

    def __post_init__(self) -> None:
        chosen = {name: m.choose(self.installed.voices) for name, m in self.registry.voice_map.items()}
        usable = {name: m for name, m in chosen.items() if m.voice in self.installed.voices}
        object.__setattr__(self, "voice_map", usable)

    def usable(self, entry: ModelEntry) -> bool:
        if entry.slug in self.installed.models:
            return True
        return self.allow_download and entry.source is not None and entry.source.hub is not None

    def models(self, task: str | None = None) -> list[ModelEntry]:
        """The entries that can be used now (of one task, if given), in registry order."""
        usable = [entry for entry in self.registry.models.values() if self.usable(entry)]
        return [entry for entry in usable if task is None or entry.task == task]

    def voice(self, name: str) -> VoiceMapping | None:
        """A voice name, or an installed Piper voice by its own name (with its own defaults)."""
        if name in self.voice_map:
            return self.voice_map[name]
        return VoiceMapping(name=name, voice=name) if name in self.installed.voices else None

    def voices(self) -> list[tuple[str, VoiceMapping]]:
        """Every voice name usable now, with what it is spoken with: the mapped names, then the
        installed Piper voices by their own names."""
        own = [(name, VoiceMapping(name=name, voice=name)) for name in sorted(self.installed.voices)]
        return [*self.voice_map.items(), *own]

    def voice_names(self) -> list[str]:
        return [name for name, _ in self.voices()]
