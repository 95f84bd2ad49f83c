"""Device placement and the load-once cache."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from fakes import FakeEngines

from engines.loader import ModelLoader, place, requests_at_once
from engines.models.registry_files import load_registry
from server.config import PROJECT_ROOT

REGISTRY = load_registry(PROJECT_ROOT / "models.toml")
WHISPER = REGISTRY.models["openai/whisper-1"]


def test_auto_picks_cuda_float16_with_a_gpu_and_cpu_int8_without() -> None:
    assert (place(WHISPER, has_cuda=True).device, place(WHISPER, has_cuda=True).compute_type) == ("cuda", "float16")
    assert (place(WHISPER, has_cuda=False).device, place(WHISPER, has_cuda=False).compute_type) == ("cpu", "int8")


def test_overrides_win() -> None:
    entry = replace(WHISPER, device="cpu", compute_type="float32")
    assert place(entry, has_cuda=True).device == "cpu"
    assert place(entry, has_cuda=True).compute_type == "float32"
    assert place(replace(WHISPER, device="cuda"), has_cuda=False).compute_type == "float16"


def test_concurrent_first_use_loads_once() -> None:
    engines = FakeEngines()
    engines.gate.close()
    loader = ModelLoader(REGISTRY, engines, has_cuda=False)
    entry = REGISTRY.models["local/whisper-tiny.en"]
    results = []
    threads = [threading.Thread(target=lambda: results.append(loader.transcriber(entry))) for _ in range(4)]
    for t in threads:
        t.start()
    # One thread loads; the others must wait for it rather than load again.
    engines.gate.wait_for_waiting(1)
    engines.gate.open()
    for t in threads:
        t.join()
    assert engines.loads == ["local/whisper-tiny.en"]
    assert len({id(r) for r in results}) == 1
    assert list(loader.loaded()) == ["model:local/whisper-tiny.en"]


def test_a_model_in_use_is_not_unloaded() -> None:
    entry = replace(REGISTRY.models["local/whisper-tiny.en"], idle_unload_s=0.01)
    loader = ModelLoader(REGISTRY, FakeEngines(), has_cuda=False)
    engine = loader.transcriber(entry)
    with loader.in_use(engine):
        assert loader.unload_idle(now=time.monotonic() + 60) == []
    assert loader.unload_idle(now=time.monotonic() + 60) == ["model:local/whisper-tiny.en"]
    assert loader.loaded() == {}


def test_requests_at_once_follow_the_engine_or_the_cores() -> None:
    cpu = place(WHISPER, has_cuda=False)
    # Whisper fills every worker's batch: 2 workers of 4 on 2 cores.
    assert requests_at_once(WHISPER, cpu, 2) == 8
    # An engine that says nothing, or one not here, takes one request per core.
    assert requests_at_once(replace(WHISPER, engine="other"), cpu, 3) == 3
