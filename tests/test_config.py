"""Configuration mistakes are one line naming the variable or the file and key, with exit code 2; `check`
validates without serving; an offline `download` says the network is unreachable."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, write_registry
from fakes import free_port

from server.config import ConfigError, Settings


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in lines[0]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUDIO_MAX_UPLOAD_MB", "abc"),
        ("AUDIO_MAX_UPLOAD_MB", "-3"),
        ("AUDIO_MAX_INPUT_CHARS", "1.5"),
        ("AUDIO_MAX_AUDIO_SECONDS", "inf"),
        ("AUDIO_NO_PRELOAD", "maybe"),
        ("AUDIO_LOG_FORMAT", "xml"),
        ("AUDIO_API_KEYS_FILE", "/no/such/keys"),
        ("AUDIO_TLS_CERT", "/no/such/cert.pem"),
        ("AUDIO_JOBS_DATABASE_URL", "mysql://somewhere/jobs"),
        ("AUDIO_JOBS_WINDOW_S", "1"),
        ("AUDIO_REALTIME_IDLE_S", "0"),
    ],
)
def test_a_bad_variable_names_itself(variable: str, value: str) -> None:
    # A certificate is only checked beside its key: the pair is given here whole but for the file.
    env = {"AUDIO_TLS_KEY": __file__} if variable == "AUDIO_TLS_CERT" else {}
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({**env, variable: value})


def test_a_certificate_and_its_key_go_together() -> None:
    with pytest.raises(ConfigError, match="give both or neither"):
        Settings.from_env({"AUDIO_TLS_CERT": __file__})
    both = Settings.from_env({"AUDIO_TLS_CERT": __file__, "AUDIO_TLS_KEY": __file__})
    assert both.tls_cert == both.tls_key == Path(__file__)


def test_serve_with_a_bad_variable_exits_2_with_one_line() -> None:
    result = run_cli("serve", "--port", str(free_port()), AUDIO_MAX_UPLOAD_MB="abc")
    assert_one_line_error(result, "AUDIO_MAX_UPLOAD_MB", "'abc'")


def _bad_default(document: dict[str, Any]) -> None:
    document["defaults"]["idle_unload_s"] = "x"


def _bad_model(document: dict[str, Any]) -> None:
    document["models"]["openai/whisper-1"]["beam_size"] = 0


@pytest.mark.parametrize(("change", "key"), [(_bad_default, "idle_unload_s"), (_bad_model, "beam_size")])
def test_a_bad_registry_names_the_file_and_key(tmp_path: Path, change: Any, key: str) -> None:
    registry = write_registry(tmp_path, change)
    assert_one_line_error(run_cli("check", AUDIO_MODELS=str(registry)), str(registry), key)


def test_serve_on_a_bad_registry_exits_2_with_one_line(tmp_path: Path) -> None:
    registry = write_registry(tmp_path, _bad_default)
    result = run_cli("serve", "--port", str(free_port()), AUDIO_MODELS=str(registry))
    assert_one_line_error(result, str(registry), "idle_unload_s")


def test_a_registry_that_is_not_toml(tmp_path: Path) -> None:
    registry = tmp_path / "models.toml"
    registry.write_text("[models\n", encoding="utf-8")
    assert_one_line_error(run_cli("check", AUDIO_MODELS=str(registry)), str(registry))


@pytest.mark.models
def test_check_says_what_would_be_served(tmp_path: Path) -> None:
    result = run_cli("check", AUDIO_CACHE_DIR=str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ok  openai/whisper-1 (transcription)" in out
    assert "ok  en_US-joe-medium (voice)" in out
    # A hub model that was never pulled is listed as such, and is not a failure.
    assert "--  systran/faster-whisper-small (transcription): not servable: " in out
    assert "voice names: alloy" in out


@pytest.mark.models
def test_check_fails_on_a_changed_model_file(tmp_path: Path) -> None:
    def wrong_sha(document: dict[str, Any]) -> None:
        files = document["voices"]["en_US-joe-medium"]["source"]["sha256"]
        files[next(iter(files))] = "0" * 64

    registry = write_registry(tmp_path, wrong_sha)
    result = run_cli("check", AUDIO_MODELS=str(registry), AUDIO_CACHE_DIR=str(tmp_path / "cache"))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "--  en_US-joe-medium (voice): not servable: " in result.stdout
    assert "refusing a changed" in result.stdout


def test_an_offline_download_says_the_network_is_unreachable(tmp_path: Path) -> None:
    # A hub address on loopback where nothing listens: the network fails exactly as it does air-gapped.
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_cli("download", "whisper-small", HF_ENDPOINT=closed, AUDIO_CACHE_DIR=str(tmp_path / "cache"))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "network is unreachable" in lines[0] and closed in lines[0]
    # The way in for an air-gapped machine, not the advice to run what just failed.
    assert "models bundle" in lines[0] and "models import" in lines[0]
    assert "run `python -m server download" not in lines[0]
