"""The `echo` kind's audio, offline and deterministic.

Speech is a WAV (or raw PCM) of one short tone per character, pitched by the
character, with the text itself in the WAV's LIST/INFO `ICMT` chunk. Transcribing
such a WAV gives that text back; any other WAV is described by duration and format.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from engine.formats.multipart import Form, Part
from engine.formats.sse import frame

RATE = 24000  # Hz, 16-bit mono: OpenAI's `pcm`
TONE = 0.05  # seconds a character
SAMPLES = int(RATE * TONE)
MAX_CHUNKS = 64  # RIFF chunks looked at before the data is found
MAX_COMMENT = 64 * 1024
TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}


@dataclass(frozen=True, slots=True)
class Clip:
    """What a WAV holds, as read from its headers."""

    rate: int
    channels: int
    bits: int
    data_size: int
    comment: str | None
    wav: bool = True

    @property
    def seconds(self) -> float:
        frame_size = self.channels * max(1, self.bits // 8)
        return self.data_size / (self.rate * frame_size) if self.rate else 0.0


def speech_format(body: dict[str, Any]) -> str:
    """The format echo answers in: raw `pcm` when asked, else WAV (it encodes nothing
    else; the Content-Type says which it sent)."""
    return "pcm" if body.get("response_format") == "pcm" else "wav"


def speech_chunks(text: str, fmt: str) -> Iterator[bytes]:
    """The clip a word at a time (the WAV header first): sizes are known in advance."""
    if fmt == "wav":
        yield wav_header(text, len(text) * SAMPLES * 2)
    tones: dict[str, bytes] = {}
    words = text.split(" ")
    for i, word in enumerate(words):
        spoken = word if i == len(words) - 1 else word + " "
        yield b"".join(_tone(ch, tones) for ch in spoken)


def wav_header(text: str, data_size: int) -> bytes:
    comment = text.encode() + b"\0"
    comment += b"\0" * (len(comment) % 2)
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(comment)) + comment
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", len(info)) + info
    riff_size = 4 + len(chunks) + 8 + data_size
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunks + b"data" + _u32(data_size)


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _tone(ch: str, tones: dict[str, bytes]) -> bytes:
    """TONE seconds at a pitch from the character (a space is silence), cached per call."""
    found = tones.get(ch)
    if found is None:
        if ch.isspace():
            found = bytes(SAMPLES * 2)
        else:
            pitch = 220 + (ord(ch) % 48) * 20
            step = 2 * math.pi * pitch / RATE
            samples = (int(6000 * math.sin(step * i)) for i in range(SAMPLES))
            found = struct.pack(f"<{SAMPLES}h", *samples)
        tones[ch] = found
    return found


async def speech_stream(text: str, fmt: str, sse: bool) -> AsyncIterator[bytes]:
    """The clip as raw bytes, or as `speech.audio.delta` events then `speech.audio.done`."""
    for chunk in speech_chunks(text, fmt):
        if not sse:
            yield chunk
            continue
        audio = base64.b64encode(chunk).decode()
        yield frame(orjson.dumps({"type": "speech.audio.delta", "audio": audio}))
    if sse:
        tokens = len(text.split())
        usage = {"input_tokens": tokens, "output_tokens": tokens, "total_tokens": 2 * tokens}
        yield frame(orjson.dumps({"type": "speech.audio.done", "usage": usage}))


def read_clip(form: Form, part: Part) -> Clip:
    """The WAV's format, data size and ICMT text (of anything but a WAV, its size)."""
    head = form.read(part, 0, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return Clip(0, 0, 0, part.size, None, wav=False)
    offset, fmt, comment = 12, (0, 0, 0), None
    for _ in range(MAX_CHUNKS):
        header = form.read(part, offset, 8)
        if len(header) < 8:
            break
        name, size = header[:4], struct.unpack("<I", header[4:])[0]
        if name == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack(
                "<HHIIHH", form.read(part, offset + 8, 16)
            )
            fmt = (rate, channels, bits)
        elif name == b"LIST":
            comment = _comment(form.read(part, offset + 8, min(size, MAX_COMMENT))) or comment
        elif name == b"data":
            size = min(size, part.size - offset - 8)
            return Clip(fmt[0], fmt[1], fmt[2], size, comment)
        offset += 8 + size + (size & 1)
    return Clip(fmt[0], fmt[1], fmt[2], 0, comment)


def _comment(info: bytes) -> str | None:
    """The ICMT text of a LIST/INFO chunk's body."""
    if not info.startswith(b"INFO"):
        return None
    at = 4
    while at + 8 <= len(info):
        name, size = info[at : at + 4], struct.unpack("<I", info[at + 4 : at + 8])[0]
        if name == b"ICMT":
            return info[at + 8 : at + 8 + size].rstrip(b"\0").decode("utf-8", "replace")
        at += 8 + size + (size & 1)
    return None


def transcript_text(clip: Clip) -> str:
    if clip.comment is not None:
        return clip.comment
    if not clip.wav:
        return f"A file of {clip.data_size} bytes that is not a WAV clip; echo reads WAV only."
    channels = "channel" if clip.channels == 1 else "channels"
    return (
        f"A WAV clip of {clip.seconds:.2f} seconds: {clip.rate} Hz, "
        f"{clip.channels} {channels}, {clip.bits}-bit."
    )


def transcript(clip: Clip, fields: dict[str, Any], task: str) -> tuple[str, bytes]:
    """(Content-Type, body) in the `response_format` asked (json by default)."""
    text = transcript_text(clip)
    seconds = round(clip.seconds, 3)
    fmt = fields.get("response_format") or "json"
    if fmt == "text":
        return "text/plain; charset=utf-8", text.encode() + b"\n"
    if fmt in ("srt", "vtt"):
        return "text/plain; charset=utf-8", _cue(text, seconds, fmt).encode()
    usage = {"type": "duration", "seconds": math.ceil(seconds)}
    if fmt == "json":
        return "application/json", orjson.dumps({"text": text, "usage": usage})
    words = text.split()
    answer: dict[str, Any] = {
        "task": "translate" if task == "translations" else "transcribe",
        "language": fields.get("language") or "english",
        "duration": seconds,
        "text": text,
        "segments": [_segment(text, seconds)],
        "usage": usage,
    }
    if "word" in fields.get("timestamp_granularities[]", ()):
        step = seconds / max(1, len(words))
        answer["words"] = [
            {"word": w, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
            for i, w in enumerate(words)
        ]
    return "application/json", orjson.dumps(answer)


def _segment(text: str, seconds: float) -> dict[str, Any]:
    return {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": seconds,
        "text": text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": 0.0,
        "compression_ratio": 1.0,
        "no_speech_prob": 0.0,
    }


def _cue(text: str, seconds: float, fmt: str) -> str:
    mark = "," if fmt == "srt" else "."
    whole = int(seconds)
    end = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}{mark}"
    end += f"{round((seconds - whole) * 1000) % 1000:03d}"
    start = f"00:00:00{mark}000"
    if fmt == "srt":
        return f"1\n{start} --> {end}\n{text}\n\n"
    return f"WEBVTT\n\n{start} --> {end}\n{text}\n\n"


async def transcript_stream(clip: Clip) -> AsyncIterator[bytes]:
    """`transcript.text.delta` a word at a time, then `transcript.text.done`."""
    text = transcript_text(clip)
    for i, word in enumerate(text.split(" ")):
        delta = word if i == 0 else " " + word
        yield frame(orjson.dumps({"type": "transcript.text.delta", "delta": delta}))
    usage = {"type": "duration", "seconds": math.ceil(clip.seconds)}
    yield frame(orjson.dumps({"type": "transcript.text.done", "text": text, "usage": usage}))
