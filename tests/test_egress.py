"""Zero egress: the real server, started by scripts/serve under a syscall tracer and taken through every
kind of request, connects to nothing but loopback and unix sockets (DNS included).

onnxruntime (Piper and Silero VAD) looks up a telemetry host some seconds after it is first imported
unless ORT_DISABLE_TELEMETRY is set; the server is kept up well past that point.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest
from conftest import ROOT, clip_path

from server.testing import free_port, wait_for

pytestmark = pytest.mark.models

STRACE = shutil.which("strace")
# onnxruntime's lookups came about 8 s after its import; the server stays up at least this long.
MIN_LIFETIME_S = 25.0
SOCKET_CALL = re.compile(r"^\d+\s+(connect|sendto|sendmsg)\((\d+), (.*)$")


def outside_addresses(trace: str) -> list[str]:
    """Every traced socket call that names an address that is not loopback, unix or netlink."""
    found = []
    for line in trace.splitlines():
        match = SOCKET_CALL.match(line)
        if not match:
            continue
        call = match.group(3)
        if "sa_family=" not in call or re.search(r"sa_family=AF_(UNIX|NETLINK)", call):
            continue  # no address (a connected socket), or a local one
        host = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', call)
        if host:
            address = ipaddress.ip_address(host.group(1) or host.group(2))
            mapped = getattr(address, "ipv4_mapped", None)
            if address.is_loopback or (mapped is not None and mapped.is_loopback):
                continue
            if "AF_UNSPEC" in call:
                continue  # disconnecting a UDP socket
        found.append(line)
    return found


def test_the_filter_sees_a_dns_lookup() -> None:
    line = '42 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0'
    local = '42 connect(9, {sa_family=AF_INET, sin_port=htons(8000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0'
    unix = '42 connect(7, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT'
    six = '42 connect(5, {sa_family=AF_INET6, sin6_port=htons(443), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr)}'
    assert outside_addresses("\n".join([line, local, unix, six])) == [line, six]


def exercise(url: str) -> None:
    """Every kind of request: both surfaces, every format, VAD, streaming, the listings and errors."""
    jfk = clip_path("jfk_ask_not.flac").read_bytes()  # stereo, 44.1 kHz
    french = clip_path("picovoice_fr.wav").read_bytes()
    with httpx.Client(base_url=url, timeout=180) as c:
        for path in ("/v1/inference/audio/transcribe", "/oai/v1/audio/transcriptions"):
            for response_format in ("text", "json", "verbose_json", "srt", "vtt"):
                data = {"model": "whisper-1", "response_format": response_format}
                if response_format == "verbose_json":
                    data["timestamp_granularities[]"] = "word"
                assert c.post(path, data=data, files={"file": ("a.flac", jfk)}).status_code == 200
            data = {"model": "tiny.en", "stream": "true", "vad_filter": "true"}
            assert c.post(path, data=data, files={"file": ("a.flac", jfk)}).status_code == 200
            assert c.post(path, data={"model": "nope"}, files={"file": ("a.flac", jfk)}).status_code == 404
        translated = c.post(
            "/oai/v1/audio/translations", data={"model": "whisper-1"}, files={"file": ("f.wav", french)}
        )
        assert translated.status_code == 200
        for path in ("/v1/inference/audio/synthesize", "/oai/v1/audio/speech"):
            for response_format in ("mp3", "opus", "aac", "flac", "wav", "pcm"):
                body = {"model": "tts-1", "input": "Hello there. Second one.", "voice": "nova"}
                assert c.post(path, json={**body, "response_format": response_format}).status_code == 200
            body = {"model": "tts-1", "input": "Streamed.", "voice": "alloy", "stream_format": "sse"}
            assert c.post(path, json=body).status_code == 200
            assert c.post(path, json={**body, "voice": "nobody"}).status_code == 400
        for path in ("/health", "/ready", "/metrics", "/oai/v1/models", "/oai/v1/audio/voices"):
            assert c.get(path).status_code == 200
    with openai.OpenAI(base_url=f"{url}/oai/v1", api_key="unused", max_retries=0) as sdk:
        assert sdk.audio.transcriptions.create(model="whisper-1", file=("a.flac", jfk)).text
        assert sdk.audio.speech.create(model="tts-1", voice="onyx", input="Done.").content


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (apt-get install strace)")
def test_the_server_sends_nothing_off_this_machine(tmp_path: Path) -> None:
    trace_file = tmp_path / "trace"
    port = free_port()
    command = [STRACE, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace_file)]
    # The README's own start: scripts/serve checks the install (its stamp), then serves; none of it may
    # reach the network, the package index included.
    command += [str(ROOT / "scripts" / "serve"), "--port", str(port), "--log-level", "warning"]
    started = time.monotonic()
    log = (tmp_path / "server.log").open("wb")
    # HF_HUB_OFFLINE is left unset on purpose: the server must not need it to stay off the network.
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    tracer = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert tracer.poll() is None, (tmp_path / "server.log").read_text()
            try:
                return httpx.get(url + "/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 240, interval=0.25, message="the traced server never became ready")
        exercise(url)
        time.sleep(max(0.0, MIN_LIFETIME_S - (time.monotonic() - started)))
    finally:
        # The server is strace's child: stop it, and strace ends with it.
        children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
        for child in children:
            subprocess.run(["kill", "-TERM", child], check=False)
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait()
        log.close()
    trace = trace_file.read_text(errors="replace")
    assert "sendto(" in trace, "the tracer saw no socket calls at all"
    outside = outside_addresses(trace)
    assert outside == [], json.dumps(outside[:10], indent=1)
