"""Speech and transcription through the official OpenAI SDK, against a fake OpenAI audio
upstream on loopback and against the offline `echo` kind."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from quart import Quart

import tests.harness
from engine import create_app
from engine.runtime import Runtime
from tests.fakes.audio_server import API_KEY, CLIP_CHUNKS, FakeAudio
from tests.harness import gateway, write_config


def _providers(fake_url: str) -> dict[str, object]:
    return {
        "defaults": {"provider": "echo", "timeout": 10, "retries": 0},
        "providers": {
            "echo": {
                "kind": "echo",
                "models": [
                    "echo-1",
                    {"id": "echo-tts", "type": "speech"},
                    {"id": "echo-whisper", "type": "transcription"},
                ],
            },
            "audio": {
                "kind": "openai",
                "base_url": fake_url,
                "api_key": API_KEY,
                "models": [
                    {"id": "tts-1", "type": "speech"},
                    {"id": "held", "type": "speech"},
                    {"id": "broken", "type": "speech"},
                    {"id": "fail-500", "type": "speech"},
                    {"id": "whisper-1", "type": "transcription"},
                    {"id": "fail-500-stt", "type": "transcription"},
                ],
            },
        },
        "aliases": {
            "voice": ["audio/fail-500", "audio/tts-1"],
            "ears": ["audio/fail-500-stt", "audio/whisper-1"],
        },
    }


@pytest.fixture
def fake() -> Iterator[FakeAudio]:
    with FakeAudio().in_thread() as server:
        yield server


@pytest.fixture
def base_url(tmp_path: Path, fake: FakeAudio) -> Iterator[str]:
    with gateway(write_config(tmp_path / "cfg", _providers(fake.url))) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)


def _wav(seconds: float, rate: int = 8000, channels: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(bytes(int(seconds * rate) * channels * 2))
    return out.getvalue()


def test_speech_relays_the_upstream_clip_and_its_content_type(client: openai.OpenAI) -> None:
    answer = client.audio.speech.create(model="audio/tts-1", voice="alloy", input="Hello there")
    assert answer.content == b"".join(CLIP_CHUNKS)
    assert answer.response.headers["content-type"] == "audio/mpeg"
    assert answer.response.headers["x-patchbay-provider"] == "audio"


def test_speech_first_bytes_arrive_before_the_upstream_has_finished(
    client: openai.OpenAI, fake: FakeAudio
) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="audio/held", voice="alloy", input="Hold on"
    ) as answer:
        chunks = answer.iter_bytes()
        first = next(chunks)
        assert fake.finished == []  # the upstream is still holding the rest of the clip
        fake.release()
        rest = b"".join(chunks)
    assert first
    assert first + rest == b"".join(CLIP_CHUNKS)
    assert len(fake.finished) == 1


def test_a_clip_broken_off_upstream_ends_early(base_url: str) -> None:
    body = {"model": "audio/broken", "input": "Cut", "voice": "alloy"}
    with httpx.stream("POST", base_url + "/v1/audio/speech", json=body, timeout=10) as answer:
        assert answer.status_code == 200
        received = b"".join(answer.iter_bytes())
    assert received == CLIP_CHUNKS[0]  # what came, and nothing appended to the audio
    assert httpx.get(base_url + "/health").status_code == 200


def test_speech_falls_back_before_the_first_byte(client: openai.OpenAI) -> None:
    answer = client.audio.speech.create(model="voice", voice="alloy", input="Again")
    assert answer.content == b"".join(CLIP_CHUNKS)
    assert answer.response.headers["x-patchbay-model"] == "tts-1"
    assert answer.response.headers["x-patchbay-attempts"] == "2"


def test_speech_events_pass_through(base_url: str) -> None:
    body = {"model": "audio/tts-1", "input": "Hi", "voice": "alloy", "stream_format": "sse"}
    answer = httpx.post(base_url + "/v1/audio/speech", json=body)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.count("speech.audio.delta") == 2
    assert '"type":"speech.audio.done"' in answer.text


def test_transcription_as_text_streams_the_upload_with_only_model_changed(
    client: openai.OpenAI, fake: FakeAudio
) -> None:
    clip = _wav(1.0)
    text = client.audio.transcriptions.create(
        model="audio/whisper-1", file=("clip.wav", clip), response_format="text", language="en"
    )
    assert text.strip() == f"{len(clip)} bytes heard by whisper-1"
    upload = fake.uploads[-1]
    assert upload["fields"] == {"model": "whisper-1", "response_format": "text", "language": "en"}
    assert upload["sha256"] == hashlib.sha256(clip).hexdigest()
    assert upload["filename"] == "clip.wav"
    assert upload["content_length"] is not None  # sent with a length, not chunked


def test_transcription_verbose_json(client: openai.OpenAI, fake: FakeAudio) -> None:
    clip = _wav(0.5)
    answer = client.audio.transcriptions.create(
        model="audio/whisper-1",
        file=("clip.wav", clip),
        response_format="verbose_json",
        timestamp_granularities=["segment"],
    )
    assert answer.duration == 1.5
    assert answer.segments is not None and answer.segments[0].text == answer.text
    assert fake.uploads[-1]["granularities"] == ["segment"]


def test_an_upload_is_sent_again_to_the_fallback(client: openai.OpenAI, fake: FakeAudio) -> None:
    clip = _wav(2.0)
    answer = client.audio.transcriptions.create(model="ears", file=("clip.wav", clip))
    assert answer.text == f"{len(clip)} bytes heard by whisper-1"
    digests = [u["sha256"] for u in fake.uploads]
    assert digests == [hashlib.sha256(clip).hexdigest()] * 2


def test_translation_reaches_the_translations_endpoint(
    client: openai.OpenAI, fake: FakeAudio
) -> None:
    answer = client.audio.translations.create(
        model="audio/whisper-1", file=("clip.wav", _wav(0.2)), response_format="verbose_json"
    )
    assert answer.text.endswith("heard by whisper-1")
    assert fake.requests[-1].path == "/v1/audio/translations"


def test_echo_round_trip_speech_then_transcription(client: openai.OpenAI) -> None:
    said = "Patchbay speaks, and echo hears it back."
    speech = client.audio.speech.create(
        model="echo/echo-tts", voice="alloy", input=said, response_format="wav"
    )
    assert speech.response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(speech.content)) as clip:
        assert clip.getnframes() == len(said) * 1200  # 50 ms a character at 24 kHz
        assert clip.getframerate() == 24000
    again = client.audio.speech.create(model="echo/echo-tts", voice="alloy", input=said)
    assert again.content == speech.content  # deterministic
    text = client.audio.transcriptions.create(model="echo/echo-whisper", file=speech.content)
    assert text.text == said
    verbose = client.audio.transcriptions.create(
        model="echo/echo-whisper",
        file=("said.wav", speech.content),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert verbose.text == said
    assert verbose.duration == pytest.approx(len(said) * 0.05)
    assert verbose.words is not None and [w.word for w in verbose.words] == said.split()


def test_echo_describes_any_other_wav(client: openai.OpenAI) -> None:
    text = client.audio.transcriptions.create(
        model="echo/echo-whisper", file=("tone.wav", _wav(1.25)), response_format="text"
    )
    assert text.strip() == "A WAV clip of 1.25 seconds: 8000 Hz, 2 channels, 16-bit."


def test_echo_transcript_streams(base_url: str) -> None:
    wav = httpx.post(
        base_url + "/v1/audio/speech", json={"model": "echo/echo-tts", "input": "one two three"}
    ).content
    answer = httpx.post(
        base_url + "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav)},
        data={"model": "echo/echo-whisper", "stream": "true"},
    )
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.count("transcript.text.delta") == 3
    assert '"type":"transcript.text.done","text":"one two three"' in answer.text


def test_echo_speech_events_carry_the_wav(base_url: str) -> None:
    body = {"model": "echo/echo-tts", "input": "hi you", "stream_format": "sse"}
    answer = httpx.post(base_url + "/v1/audio/speech", json=body)
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in answer.text.splitlines() if line]
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    with wave.open(io.BytesIO(audio)) as clip:
        assert clip.getnframes() == len("hi you") * 1200
    assert b"ICMThi you" not in audio and b"hi you\0" in audio  # the text, in its chunk


def test_echo_answers_wav_whatever_encoded_format_is_asked(client: openai.OpenAI) -> None:
    answer = client.audio.speech.create(
        model="echo/echo-tts", voice="alloy", input="x", response_format="mp3"
    )
    assert answer.response.headers["content-type"] == "audio/wav"
    assert answer.content.startswith(b"RIFF")
    pcm = client.audio.speech.create(
        model="echo/echo-tts", voice="alloy", input="x", response_format="pcm"
    )
    assert pcm.response.headers["content-type"] == "audio/pcm"
    assert len(pcm.content) == 1200 * 2  # 50 ms of 16-bit samples at 24 kHz, no header


def test_a_speech_model_is_not_a_transcription_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.audio.transcriptions.create(model="echo/echo-tts", file=("a.wav", _wav(0.1)))


def _metric(base_url: str, name: str) -> float:
    text = httpx.get(base_url + "/metrics").text
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def test_audio_has_its_own_counters(client: openai.OpenAI, base_url: str) -> None:
    said = "Count these characters"
    speech = client.audio.speech.create(model="echo/echo-tts", voice="alloy", input=said)
    client.audio.transcriptions.create(model="audio/whisper-1", file=("a.wav", speech.content))
    client.audio.transcriptions.create(
        model="audio/whisper-1", file=("a.wav", _wav(0.1)), response_format="verbose_json"
    )
    assert _metric(base_url, "patchbay_speech_characters_total") == len(said)
    # The fake reports usage.seconds 2 for json and duration 1.5 for verbose_json.
    assert _metric(base_url, "patchbay_transcribed_audio_seconds_total") == 3.5


def test_rate_limits_count_audio_requests(
    tmp_path: Path, fake: FakeAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = {"rate_limit": {"rpm": 2, "tpm": 1000}}
    directory = write_config(tmp_path / "limited", _providers(fake.url), server=server)
    made: list[Runtime] = []

    def create(*args: Any, **kwargs: Any) -> Quart:
        app = create_app(*args, **kwargs)
        made.append(app.config["PATCHBAY_RUNTIME"])
        return app

    monkeypatch.setattr(tests.harness, "create_app", create)
    with gateway(directory) as url:
        # One minute for the whole test: the three requests share a window however slow.
        made[0].guard.limiter.clock = lambda: 1_000_020.0
        body = {"model": "echo/echo-tts", "input": "x" * 400}
        first = httpx.post(url + "/v1/audio/speech", json=body)
        assert first.status_code == 200
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        clip = {"file": ("a.wav", first.content)}
        heard = httpx.post(
            url + "/v1/audio/transcriptions", files=clip, data={"model": "echo/echo-whisper"}
        )
        assert heard.status_code == 200
        # The clip (about a megabyte of audio) is no text: speech costs its request's
        # estimate, a token per four bytes of JSON.
        sent = len(json.dumps(body, separators=(",", ":")))
        assert heard.headers["x-ratelimit-remaining-tokens"] == str(1000 - math.ceil(sent / 4))
        refused = httpx.post(url + "/v1/audio/speech", json=body)
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers


def test_a_form_without_a_model_is_sent_one(tmp_path: Path, fake: FakeAudio) -> None:
    providers = _providers(fake.url)
    providers["defaults"] = {"provider": "audio", "timeout": 10, "retries": 0}
    with gateway(write_config(tmp_path / "auto", providers)) as url:
        clip = _wav(0.3)
        answer = httpx.post(url + "/v1/audio/transcriptions", files={"file": ("a.wav", clip)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == f"{len(clip)} bytes heard by whisper-1"
    assert fake.uploads[-1]["fields"] == {"model": "whisper-1"}
