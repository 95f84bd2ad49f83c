"""A stand-in for the model hub on loopback: the few endpoints `huggingface_hub` calls to pull a model.

It answers model info (`/api/models/REPO[/revision/REV]`) and file resolution (`/REPO/resolve/REV/PATH`,
HEAD and GET, with ETag, size and commit headers, and byte ranges) from files a test hands it. A test can
make it stall a download half-way once, or serve bytes that do not match the hash it announces.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

MODEL_BIN_BYTES = 6 * 1024 * 1024
"""model.bin of the Whisper-shaped stand-in: several of the 1 MB pieces a pull writes at a time."""
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LARGE = (".bin", ".onnx")
"""Files the real hub keeps in LFS: their ETag is the sha256; other files get their git blob id."""


@dataclass
class FakeHub:
    repos: dict[str, dict[str, bytes]]
    """Repository -> path in it -> content."""
    stall_once: set[str] = field(default_factory=set)
    """Paths whose first GET sends half the file and then stalls until `release` is set."""
    release: threading.Event = field(default_factory=threading.Event)
    corrupt: set[str] = field(default_factory=set)
    """Paths served with one byte changed from what their ETag says."""
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, Range header) of every request."""
    url: str = ""

    def etag(self, content: bytes, path: str) -> str:
        if path.endswith(LARGE):
            return hashlib.sha256(content).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def start(hub: FakeHub) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range", "")))
            info = re.match(r"^/api/models/(.+?)(?:/revision/[^/?]+)?(?:\?.*)?$", self.path)
            if info and info.group(1) in hub.repos:
                files = [{"rfilename": name} for name in hub.repos[info.group(1)]]
                self._send(200, json.dumps({"id": info.group(1), "sha": COMMIT, "siblings": files}).encode(), body)
                return
            resolve = re.match(r"^/(.+?/[^/]+)/resolve/[^/]+/(.+)$", self.path)
            content = hub.repos.get(resolve.group(1), {}).get(resolve.group(2)) if resolve else None
            if resolve is None or content is None:
                self._send(404, b'{"error": "Entry not found"}', body, {"X-Error-Code": "EntryNotFound"})
                return
            path = resolve.group(2)
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hub.etag(content, path)}"', "Accept-Ranges": "bytes"}
            if path in hub.corrupt:
                content = bytes([content[0] ^ 0xFF]) + content[1:]
            start = 0
            ranged = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if ranged:
                start = int(ranged.group(1))
                headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            if body and self.command == "GET" and path in hub.stall_once:
                # Half the file, then nothing more until the test lets go: it stops the pull meanwhile.
                hub.stall_once.discard(path)
                self._send(206 if ranged else 200, content[start:], body=False, headers=headers)
                self.wfile.write(content[start : start + (len(content) - start) // 2])
                self.wfile.flush()
                hub.release.wait(30)
                self.close_connection = True
                return
            self._send(206 if ranged else 200, content[start:], body, headers)

        def _send(self, status: int, data: bytes, body: bool, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def whisper_repo(folder: Path) -> dict[str, bytes]:
    """A CTranslate2 Whisper model's files, as a hub repository holds them."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    return {**files, "README.md": b"# a model card\n", ".gitattributes": b"*.bin filter=lfs\n"}


def random_whisper(folder: Path) -> Path:
    """Files shaped like a CTranslate2 Whisper model (enough for pulling; nothing loads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    (folder / "model.bin").write_bytes(rng.bytes(MODEL_BIN_BYTES))
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (folder / name).write_bytes(f'{{"name": "{name}"}}'.encode())
    return folder


def hub_only(document: dict[str, Any]) -> None:
    """The shipped registry less its packaged models and voices: these tests need no model package."""
    document["models"] = {"systran/faster-whisper-small": document["models"]["systran/faster-whisper-small"]}
    document["voices"], document["voice_map"] = {}, {}
