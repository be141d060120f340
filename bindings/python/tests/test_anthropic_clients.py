"""The Anthropic door (`/v1/messages`) with real Python clients from PyPI (issue 47), against a
running `llm-compare serve` on the simulated models: the official `anthropic` SDK (a message,
a stream, tool use and its result, each error as the SDK's own exception class, an error
mid-stream, token counting) and LangChain's `ChatAnthropic` (invoke and stream)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic

from conftest import Served

TOOLS: Any = [{
    "name": "lookup",
    "description": "Looks a word up.",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
}]


def sdk(served: Served, key: str) -> anthropic.Anthropic:
    # No retries: each error is seen as it came.
    return anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0)


def test_a_message_whole_and_streamed(served: Served) -> None:
    client = sdk(served, served.admin)
    message = client.messages.create(
        model="sim/echo", max_tokens=64, system="Be brief.",
        messages=[{"role": "user", "content": "a b c"}],
    )
    assert message.type == "message"
    assert message.content[0].type == "text" and message.content[0].text == "a b c"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3

    with client.messages.stream(
        model="sim/echo", max_tokens=64,
        messages=[{"role": "user", "content": "one two three four"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three four"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


def test_tool_use_then_its_result(served: Served) -> None:
    client = sdk(served, served.admin)
    first = client.messages.create(
        model="sim/agent", max_tokens=64, tools=TOOLS,
        messages=[{"role": "user", "content": "find x"}],
    )
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "lookup" and isinstance(use.input, dict)

    with client.messages.stream(
        model="sim/agent", max_tokens=64, tools=TOOLS,
        messages=[{"role": "user", "content": "find x"}],
    ) as stream:
        streamed = stream.get_final_message()
    streamed_use = next(b for b in streamed.content if b.type == "tool_use")
    assert streamed_use.input == use.input  # input_json_delta, assembled by the SDK

    second = client.messages.create(
        model="sim/agent", max_tokens=64, tools=TOOLS,
        messages=[
            {"role": "user", "content": "find x"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "42"}]},
        ],
    )
    assert second.content[0].type == "text" and "42" in second.content[0].text


@pytest.mark.parametrize(
    ("what", "key", "body", "cls"),
    [
        ("unknown model", "admin", {"model": "nope/x"}, anthropic.BadRequestError),
        ("a field it cannot honour", "admin", {"extra_body": {"top_k": 3}}, anthropic.BadRequestError),
        ("wrong key", None, {}, anthropic.AuthenticationError),
        ("model not allowed", "echo_only", {"model": "sim/lorem"}, anthropic.PermissionDeniedError),
        ("upstream failed", "admin", {"model": "sim/flaky"}, anthropic.InternalServerError),
    ],
)
def test_each_error_is_the_sdks_own_class(
    served: Served, what: str, key: str | None, body: dict[str, Any], cls: type[Exception],
) -> None:
    secret = getattr(served, key) if key else "lcsk_wrong"
    request: Any = {"model": "sim/echo", "max_tokens": 9,
                    "messages": [{"role": "user", "content": "x"}]} | body
    with pytest.raises(cls) as raised:
        sdk(served, secret).messages.create(**request)
    assert isinstance(raised.value, anthropic.APIStatusError), what
    assert raised.value.body["type"] == "error", raised.value.body  # type: ignore[index]


def test_a_rate_limit_is_a_rate_limit_error(served: Served) -> None:
    client = sdk(served, served.once_per_minute)
    body: Any = {"model": "sim/echo", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}]}
    client.messages.create(**body)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(**body)


def test_a_failure_mid_stream_raises(served: Served) -> None:
    with pytest.raises(anthropic.APIStatusError):
        with sdk(served, served.admin).messages.stream(
            model="sim/flaky", max_tokens=64, messages=[{"role": "user", "content": "go"}],
        ) as stream:
            for _ in stream.text_stream:
                pass


def test_count_tokens(served: Served) -> None:
    counted = sdk(served, served.admin).messages.count_tokens(
        model="sim/echo", messages=[{"role": "user", "content": "one two three four"}],
    )
    assert counted.input_tokens >= 4


def test_langchain_chat_anthropic_invoke_and_stream(served: Served) -> None:
    chat = ChatAnthropic(  # type: ignore[call-arg]
        model_name="sim/echo", base_url=served.url, api_key=served.admin,  # type: ignore[arg-type]
        max_tokens_to_sample=64, max_retries=0,
    )
    answer = chat.invoke("red green blue")
    assert answer.content == "red green blue"
    text = ""
    for chunk in chat.stream("one two three"):
        if isinstance(chunk.content, str):
            text += chunk.content
        else:
            text += "".join(b.get("text", "") for b in chunk.content if isinstance(b, dict))
    assert text == "one two three"
