"""Uploads never sit whole in a worker's memory.

Patchbay runs as `python -m engine serve` (one worker: the process itself) with the
default 25 MiB max_upload_size; its peak resident memory (VmHWM in /proc) is read
before and after each upload. A 100 MiB upload is refused (413) with the peak growing
by less than a few MiB, whether its Content-Length announces it or it comes chunked;
a 20 MiB upload is forwarded to the upstream whole, with the peak growing by less than
the file's size.
"""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.audio_server import API_KEY, FakeAudio
from tests.harness import free_port, write_config
from tests.reload_helpers import wait_for

MIB = 1024 * 1024
REFUSED_GROWTH = 4 * MIB  # "a few MiB"
FORWARDED = 20 * MIB


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, FakeAudio]]:
    """(base URL, PID, fake) of a one-worker Patchbay before a fake audio upstream."""
    with FakeAudio().in_thread() as fake:
        providers = {
            "defaults": {"provider": "echo", "timeout": 30, "retries": 0},
            "providers": {
                "audio": {
                    "kind": "openai",
                    "base_url": fake.url,
                    "api_key": API_KEY,
                    "models": [{"id": "whisper-1", "type": "transcription"}],
                },
                "echo": {"kind": "echo", "models": ["echo-1"]},
            },
        }
        directory = write_config(tmp_path / "cfg", providers)
        port = free_port()
        command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(directory)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-watch"]
        with open(tmp_path / "serve.log", "wb") as log:
            process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(base), "the server to answer", deadline=30)
            _transcribe(base, b"RIFF" + bytes(4096))  # every code path loaded before measuring
            yield base, process.pid, fake
        finally:
            process.send_signal(signal.SIGTERM)  # this PID only: the server this test started
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/health").status_code == 200
    except httpx.HTTPError:
        return False


def _transcribe(base: str, data: bytes) -> httpx.Response:
    return httpx.post(
        base + "/v1/audio/transcriptions",
        files={"file": ("clip.wav", data, "audio/wav")},
        data={"model": "audio/whisper-1", "response_format": "text"},
        timeout=60,
    )


def _head(port: int, headers: str) -> bytes:
    """Send request headers only, and read the answer that comes before any body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(headers.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_declared_100_mib_upload_is_refused_before_it_is_read(
    served: tuple[str, int, FakeAudio],
) -> None:
    base, pid, fake = served
    uploads = len(fake.uploads)
    before = _peak_rss(pid)
    port = int(base.rsplit(":", 1)[1])
    answer = _head(
        port,
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {100 * MIB}\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    growth = _peak_rss(pid) - before
    print(f"peak RSS growth refusing a declared 100 MiB upload: {growth / MIB:.2f} MiB")
    assert growth < REFUSED_GROWTH
    assert len(fake.uploads) == uploads  # nothing reached the upstream


def test_a_chunked_100_mib_upload_is_refused_while_it_is_read(
    served: tuple[str, int, FakeAudio],
) -> None:
    base, pid, fake = served
    uploads = len(fake.uploads)
    before = _peak_rss(pid)
    boundary = "b"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'

    def body() -> Iterator[bytes]:
        yield head.encode()
        block = bytes(MIB)
        for _ in range(100):
            yield block

    try:
        answer = httpx.post(
            base + "/v1/audio/transcriptions",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
        assert answer.status_code == 413, answer.text
        assert "max_upload_size" in answer.json()["error"]["message"]
        print("chunked upload: 413 answered")
    except httpx.WriteError:
        print("chunked upload: connection closed mid-body")
        pass  # the server stopped reading past its drain limit, as it should; see below
    growth = _peak_rss(pid) - before
    print(f"peak RSS growth refusing a chunked 100 MiB upload: {growth / MIB:.2f} MiB")
    assert growth < REFUSED_GROWTH
    assert len(fake.uploads) == uploads  # nothing reached the upstream
    assert _transcribe(base, b"RIFF" + bytes(64)).status_code == 200  # still serving


def test_a_20_mib_upload_is_forwarded_without_holding_it(
    served: tuple[str, int, FakeAudio],
) -> None:
    base, pid, fake = served
    data = bytes(range(256)) * (FORWARDED // 256)
    before = _peak_rss(pid)
    answer = _transcribe(base, data)
    assert answer.status_code == 200, answer.text
    assert answer.text.strip() == f"{len(data)} bytes heard by whisper-1"
    assert fake.uploads[-1]["sha256"] == hashlib.sha256(data).hexdigest()
    growth = _peak_rss(pid) - before
    print(f"peak RSS growth forwarding a 20 MiB upload: {growth / MIB:.2f} MiB")
    assert growth < FORWARDED
