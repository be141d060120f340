"""The OpenAI-compatible endpoint with real Python clients from PyPI (issue 27), against a
running `llm-compare serve` on the built-in simulated models: the official `openai` SDK
(streamed and not, a tool-calling model's calls as the SDK's typed objects, each error as the
SDK's own exception class, an error mid-stream) and LangChain's `ChatOpenAI` (streaming, with
usage)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI

from conftest import Served


def sdk(served: Served, key: str) -> openai.OpenAI:
    # No retries: each error is seen as it came.
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)


TOOLS: Any = [{
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Looks a word up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}]


def test_a_completion_streamed_and_not_with_usage_when_asked(served: Served) -> None:
    client = sdk(served, served.admin)
    answer = client.chat.completions.create(
        model="sim/echo", messages=[{"role": "user", "content": "a b c"}],
    )
    choice = answer.choices[0]
    assert choice.message.content == "a b c"
    assert choice.message.refusal is None
    assert choice.logprobs is None
    assert choice.finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == 3

    stream = client.chat.completions.create(
        model="sim/echo", messages=[{"role": "user", "content": "one two three four"}],
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens == 4
    assert chunks[-1].choices == [], "the usage chunk comes last, with no choices"

    plain = list(client.chat.completions.create(
        model="sim/echo", messages=[{"role": "user", "content": "x y"}], stream=True,
    ))
    assert plain and all(c.usage is None for c in plain), "no usage chunk unless asked for"


def test_tool_calls_arrive_as_the_sdks_typed_objects(served: Served) -> None:
    client = sdk(served, served.admin)
    answer = client.chat.completions.create(
        model="sim/agent", messages=[{"role": "user", "content": "find walrus"}], tools=TOOLS,
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["q"], str)  # type: ignore[union-attr]

    # Streamed: the SDK's helper assembles the calls from the deltas.
    with client.chat.completions.stream(
        model="sim/agent", messages=[{"role": "user", "content": "find walrus"}], tools=TOOLS,
    ) as s:
        final = s.get_final_completion()
    streamed = final.choices[0].message.tool_calls or []
    assert streamed and streamed[0].function.name == "lookup"
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("what", "key", "body", "exc", "status", "kind", "param"),
    [
        ("an unknown model", "admin", {"model": "nope/x"}, openai.BadRequestError, 400, "invalid_request_error", "model"),
        ("n = 2", "admin", {"model": "sim/echo", "n": 2}, openai.BadRequestError, 400, "invalid_request_error", "n"),
        ("audio output", "admin", {"model": "sim/echo", "modalities": ["text", "audio"]}, openai.BadRequestError, 400, "invalid_request_error", "modalities"),
        ("a wrong key", None, {"model": "sim/echo"}, openai.AuthenticationError, 401, "authentication_error", None),
        ("a model the key may not use", "echo_only", {"model": "sim/lorem"}, openai.PermissionDeniedError, 403, "permission_error", None),
        ("a failing model", "admin", {"model": "sim/flaky"}, openai.InternalServerError, 502, "server_error", None),
    ],
)
def test_each_error_is_the_sdks_own_class(
    served: Served, what: str, key: str | None, body: dict[str, Any],
    exc: type[openai.APIStatusError], status: int, kind: str, param: str | None,
) -> None:
    secret = getattr(served, key) if key else "lcsk_wrong"
    with pytest.raises(exc) as e:
        sdk(served, secret).chat.completions.create(
            messages=[{"role": "user", "content": "x"}], **body,
        )
    assert e.value.status_code == status, what
    assert e.value.type == kind, what
    if param is not None:
        assert e.value.param == param, what


def test_a_rate_limit_is_a_rate_limit_error(served: Served) -> None:
    client = sdk(served, served.once_per_minute)
    client.chat.completions.create(model="sim/echo", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="sim/echo", messages=[{"role": "user", "content": "x"}])
    assert e.value.type == "rate_limit_error"
    assert int(e.value.response.headers["retry-after"]) >= 1


def test_a_model_failing_mid_stream_raises_the_sdks_api_error(served: Served) -> None:
    stream = sdk(served, served.admin).chat.completions.create(
        model="sim/flaky", messages=[{"role": "user", "content": "go"}], stream=True,
    )
    text = ""
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert e.value.type == "server_error"
    assert text, "the words before the failure arrived"


def test_langchain_chat_openai_streams_with_usage(served: Served) -> None:
    llm = ChatOpenAI(
        model="sim/echo", base_url=served.url + "/v1", api_key=served.admin,  # type: ignore[arg-type]
        streaming=True, stream_usage=True, max_retries=0,
    )
    chunks = list(llm.stream("red green blue"))
    assert len(chunks) > 1, "streamed, not one answer"
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert isinstance(whole, AIMessageChunk)
    assert whole.content == "red green blue"
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["output_tokens"] == 3
    assert whole.usage_metadata["input_tokens"] > 0
