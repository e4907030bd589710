"""Transcription uploads that are not what they should be get a 400 naming the field,
never a 500; and the spooled body is gone once the answer is."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.http.uploads import SPOOL_PREFIX
from tests.harness import gateway, write_config

BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def _body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24)
GOOD = (_part("model", b"echo/echo-whisper"), _part("file", WAV, "a.wav"))


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    models = ["echo-1", {"id": "echo-whisper", "type": "transcription"}]
    providers = {"providers": {"echo": {"kind": "echo", "models": models}}}
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        yield url


def _post(base_url: str, body: bytes, content_type: str = MULTIPART) -> httpx.Response:
    return httpx.post(
        base_url + "/v1/audio/transcriptions", content=body, headers={"content-type": content_type}
    )


def test_a_good_body_is_answered(base_url: str) -> None:
    answer = _post(base_url, _body(*GOOD))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("body", "content_type", "param"),
    [
        (_body(*GOOD), "multipart/form-data", None),  # no boundary
        (_body(*GOOD), "application/json", None),  # not multipart at all
        (_body(*GOOD)[:-30], MULTIPART, None),  # truncated
        (b"just some bytes", MULTIPART, None),
        (f"--{BOUNDARY}\r\nno blank line".encode(), MULTIPART, None),
        (_body(_part("model", b"echo/echo-whisper")), MULTIPART, "file"),  # no file
        (_body(GOOD[0], _part("file", b"not a file")), MULTIPART, "file"),  # a text field
        (_body(_part("model", b"x", "model.txt"), GOOD[1]), MULTIPART, "model"),  # a file
        (_body(*GOOD, _part("temperature", b"hot")), MULTIPART, "temperature"),
        (_body(*GOOD, _part("temperature", b"3")), MULTIPART, "temperature"),
        (_body(*GOOD, _part("stream", b"maybe")), MULTIPART, "stream"),
        (_body(*GOOD, _part("response_format", b"xml")), MULTIPART, "response_format"),
        (_body(*GOOD, _part("timestamp_granularities[]", b"char")), MULTIPART, None),
        (_body(GOOD[0], _part("file", WAV, "a.exe")), MULTIPART, "file"),  # unsupported format
        (_body(GOOD[0], _part("file", b"", "a.wav")), MULTIPART, "file"),  # empty
        (_body(_part("model", b"\xff\xfe"), GOOD[1]), MULTIPART, "model"),  # not UTF-8
    ],
)
def test_bad_bodies_are_400s(
    base_url: str, body: bytes, content_type: str, param: str | None
) -> None:
    answer = _post(base_url, body, content_type)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_echo_describes_a_file_that_is_not_a_wav(base_url: str) -> None:
    answer = _post(base_url, _body(GOOD[0], _part("file", b"ID3 an mp3", "a.mp3")))
    assert answer.status_code == 200
    assert answer.json()["text"] == (
        "A file of 10 bytes that is not a WAV clip; echo reads WAV only."
    )


def test_granularities_are_named(base_url: str) -> None:
    answer = _post(base_url, _body(*GOOD, _part("timestamp_granularities[]", b"char")))
    assert answer.json()["error"]["param"] == "timestamp_granularities[]"


def test_the_spooled_upload_is_deleted_after_the_answer(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gateway runs in this process: its spool files go to this test's own folder,
    # where no other run's uploads come and go.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for body in (_body(*GOOD), b"garbage"):
        _post(base_url, body)
    assert list(tmp_path.glob(SPOOL_PREFIX + "*")) == []


def test_speech_bodies_are_checked(base_url: str) -> None:
    answer = httpx.post(base_url + "/v1/audio/speech", json={"model": "echo/echo-1", "input": 3})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "input"
