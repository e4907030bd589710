"""The `echo` kind: offline and deterministic; it answers with the last user message,
or plays an agent (tool calls, structured output: engine/providers/echo_agent.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from engine.errors import InvalidRequest
from engine.formats.multipart import Form
from engine.formats.sse import DONE, frame
from engine.providers import echo_audio
from engine.providers.base import Call, ProviderKind, Relayed
from engine.providers.echo_agent import Turn, agent_turns, cut_at_stop, said_last

MAX_DIMENSIONS = 3072  # text-embedding-3-large's; a larger ask would only cost memory
# About 20 MB of JSON: 256 inputs at 3,072 dimensions, or 2,048 inputs at 512.
MAX_EMBEDDING_VALUES = 1 << 20
MAX_REPLY_CHARS = 65536  # a reply stops here ("length"): n copies of a 10 MiB message
# would otherwise cost gigabytes
ARGUMENT_PIECE = re.compile(r"\w+|\W+")  # `{"` `city` `":"` `Paris` `"}`, as OpenAI streams them


def _text_of(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def echo_reply(body: dict[str, Any]) -> tuple[str, str]:
    """The reply (the last user message, or a tool result that ends the conversation) and
    its finish_reason: "length" when it was cut at `max_completion_tokens` or `max_tokens`
    (a word is a token) or at MAX_REPLY_CHARS."""
    said = said_last(body)
    reply = said
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        reply = " ".join(reply.split(" ")[:limit])
    reply = reply[:MAX_REPLY_CHARS]
    return reply, "stop" if reply == said else "length"


def _turns(body: dict[str, Any]) -> list[Turn]:
    """One Turn per choice: the agent's (tool calls, JSON), else the echo cut at `stop`."""
    choices = int(body.get("n") or 1)
    turns = agent_turns(body, choices)
    if turns is not None:
        return turns
    reply, finish = echo_reply(body)
    reply, stopped = cut_at_stop(reply, body.get("stop"))
    return [Turn(reply, (), "stop" if stopped else finish)] * choices


def _usage(body: dict[str, Any], turns: list[Turn]) -> dict[str, int]:
    prompt = sum(
        len(_text_of(m.get("content")).split())
        for m in body.get("messages", [])
        if isinstance(m, dict)
    )
    completion = sum(len(_pieces(turn)) for turn in turns)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _pieces(turn: Turn) -> list[str]:
    """What a turn streams as, one piece a chunk (and a token): words, or argument fragments."""
    if turn.tool_calls:
        return [p for call in turn.tool_calls for p in ARGUMENT_PIECE.findall(call.arguments)]
    return (turn.content or "").split()


def _message(turn: Turn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content, "refusal": None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in turn.tool_calls
        ]
    return message


def _completion_id(body: dict[str, Any]) -> str:
    return "chatcmpl-echo-" + hashlib.sha256(orjson.dumps(body.get("messages"))).hexdigest()[:16]


def forced_call(body: dict[str, Any], reply: str) -> dict[str, Any] | None:
    """The tool call echo answers with when `tool_choice` forces one (`required`: the
    first tool; or a tool by name): its arguments are the reply when that is a JSON
    object, else `{}`. None when no tool is forced."""
    tools = body.get("tools") or []
    names = [t["function"]["name"] for t in tools if isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    if choice == "required" and names:
        name = names[0]
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if name not in names:
            return None
    else:
        return None
    try:
        said = orjson.loads(reply)
    except orjson.JSONDecodeError:
        said = None
    arguments = reply if isinstance(said, dict) else "{}"
    call_id = "call_echo_" + hashlib.sha256(arguments.encode()).hexdigest()[:12]
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class Echo(ProviderKind):
    """Replies with what it was sent; streams the reply word by word. A forced tool is
    called with the message as its arguments (see `forced_call`)."""

    name = "echo"

    async def chat(self, call: Call) -> bytes:
        turns = _turns(call.body)
        return orjson.dumps(
            {
                "id": _completion_id(call.body),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": call.model.id,
                "choices": [
                    {
                        "index": i,
                        "message": _message(turn),
                        "finish_reason": turn.finish_reason,
                        "logprobs": None,
                    }
                    for i, turn in enumerate(turns)
                ],
                "usage": _usage(call.body, turns),
            }
        )

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        turns = _turns(call.body)  # before the first byte: a bad request is a plain 400
        return self._chunks(call, turns)

    async def _chunks(self, call: Call, turns: list[Turn]) -> AsyncIterator[bytes]:
        head = {
            "id": _completion_id(call.body),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.model.id,
        }
        end = b""
        for index, turn in enumerate(turns):
            for delta in _deltas(turn):
                yield _chunk(head, index, delta)
            end = _chunk(head, index, {}, turn.finish_reason)
            if index < len(turns) - 1:
                yield end  # the last finish goes out with the usage and [DONE]
        options = call.body.get("stream_options") or {}
        if options.get("include_usage"):
            end += frame(orjson.dumps({**head, "choices": [], "usage": _usage(call.body, turns)}))
        yield end + DONE

    async def embeddings(self, call: Call) -> bytes:
        inputs = call.body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        dimensions = call.body.get("dimensions") or 8
        if dimensions > MAX_DIMENSIONS:
            raise InvalidRequest(
                f"Invalid value for 'dimensions': echo embeds in at most {MAX_DIMENSIONS}.",
                param="dimensions",
            )
        _check_answer_size(len(items), dimensions)
        encode = _base64 if call.body.get("encoding_format") == "base64" else list
        data = [
            {"object": "embedding", "index": i, "embedding": encode(_vector(str(item), dimensions))}
            for i, item in enumerate(items)
        ]
        tokens = sum(len(str(item).split()) for item in items)
        return orjson.dumps(
            {
                "object": "list",
                "data": data,
                "model": call.model.id,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def speech(self, call: Call) -> Relayed:
        """A WAV (or PCM) of tones with the text in its ICMT chunk, a word per chunk."""
        fmt = echo_audio.speech_format(call.body)
        text = str(call.body.get("input", ""))
        if call.body.get("stream_format") == "sse":
            return Relayed("text/event-stream", echo_audio.speech_stream(text, fmt, sse=True))
        return Relayed(echo_audio.TYPES[fmt], echo_audio.speech_stream(text, fmt, sse=False))

    async def transcription(self, call: Call, form: Form, task: str) -> Relayed:
        """The text a WAV of echo's carries; of any other WAV, its duration and format."""
        part = form.file("file")
        if part is None:
            raise InvalidRequest("Missing required parameter: 'file'.", param="file")
        clip = echo_audio.read_clip(form, part)
        if call.body.get("stream"):
            return Relayed("text/event-stream", echo_audio.transcript_stream(clip))
        content_type, body = echo_audio.transcript(clip, call.body, task)
        return Relayed(content_type, _once(body))

    async def discover_models(self, upstream: Any) -> list[str]:
        return list(self.provider.models)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _check_answer_size(inputs: int, dimensions: int) -> None:
    """Refuse (400) an answer of more than MAX_EMBEDDING_VALUES numbers before building it."""
    if inputs * dimensions > MAX_EMBEDDING_VALUES:
        raise InvalidRequest(
            f"Invalid value for 'input': echo answers at most {MAX_EMBEDDING_VALUES} numbers "
            f"per request, and {inputs} inputs of {dimensions} dimensions are "
            f"{inputs * dimensions}; send fewer inputs or fewer dimensions.",
            param="input",
        )


def _chunk(
    head: dict[str, Any], index: int, delta: dict[str, Any], finish: str | None = None
) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
    return frame(orjson.dumps({**head, "choices": [choice]}))


def _deltas(turn: Turn) -> Iterator[dict[str, Any]]:
    """A turn as OpenAI streams it: the role, then words, or each tool call's id and name
    followed by its arguments in fragments."""
    if not turn.tool_calls:
        yield {"role": "assistant", "content": ""}
        for i, word in enumerate((turn.content or "").split(" ")):
            yield {"content": word if i == 0 else " " + word}
        return
    for index, call in enumerate(turn.tool_calls):
        function = {"name": call.name, "arguments": ""}
        opening = {"index": index, "id": call.id, "type": "function", "function": function}
        first: dict[str, Any] = {"tool_calls": [opening]}
        yield {"role": "assistant", "content": None, **first} if index == 0 else first
        for piece in ARGUMENT_PIECE.findall(call.arguments):
            yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}


def _base64(vector: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: little-endian float32s, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-ish vector derived from the text's hash."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dimensions * 4 // len(seed) + 1))[: dimensions * 4]
    values = [v / 2**32 - 0.5 for v in struct.unpack(f"<{dimensions}I", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]
