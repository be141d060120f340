"""The Responses door (`/v1/responses`) with real Python clients from PyPI (issue 47), against a
running `llm-compare serve` on the simulated models: the official `openai` SDK's
`responses.create` (whole and streamed, function calling, a follow-up by
`previous_response_id`, `responses.retrieve`, errors as the SDK's own exception classes, a
failure mid-stream) and the OpenAI Agents SDK running an agent with one function tool."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

from conftest import Served

TOOLS: Any = [{
    "type": "function",
    "name": "lookup",
    "description": "Looks a word up.",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    "strict": False,
}]


def sdk(served: Served, key: str) -> openai.OpenAI:
    # No retries: each error is seen as it came.
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)


def test_a_response_whole_and_streamed(served: Served) -> None:
    client = sdk(served, served.admin)
    response = client.responses.create(
        model="sim/echo", input="a b c", instructions="Be brief.", max_output_tokens=64,
    )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "a b c"
    assert response.usage is not None and response.usage.output_tokens == 3

    with client.responses.stream(model="sim/echo", input="one two three four") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "one two three four"
    assert final.output_text == "one two three four"
    assert final.usage is not None and final.usage.output_tokens == 4


def test_function_calling_a_follow_up_and_retrieve(served: Served) -> None:
    client = sdk(served, served.admin)
    first = client.responses.create(model="sim/agent", input="find x", tools=TOOLS)
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "lookup"
    assert isinstance(json.loads(call.arguments), dict)

    # The thread lives on the server: only the tool's output is sent back.
    follow = client.responses.create(
        model="sim/agent", previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "42"}],
    )
    assert "42" in follow.output_text
    assert follow.previous_response_id == first.id

    # Streamed, the call's arguments arrive as their own events.
    with client.responses.stream(model="sim/agent", input="find y", tools=TOOLS) as stream:
        args = "".join(e.delta for e in stream if e.type == "response.function_call_arguments.delta")
        final = stream.get_final_response()
    assert isinstance(json.loads(args), dict)
    assert final.output[0].type == "function_call"

    again = client.responses.retrieve(follow.id)
    assert again.output_text == follow.output_text
    # Another user's response does not exist for them.
    with pytest.raises(openai.NotFoundError):
        sdk(served, served.echo_only).responses.retrieve(follow.id)


def test_errors_are_the_sdks_exceptions(served: Served) -> None:
    client = sdk(served, served.admin)
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="nope/x", input="x")
    assert bad.value.param == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="sim/echo", input="x", background=True)
    assert bad.value.param == "background"
    with pytest.raises(openai.PermissionDeniedError):
        sdk(served, served.echo_only).responses.create(model="sim/lorem", input="x")
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="sim/echo", input="x", previous_response_id="resp_nope")
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="sim/flaky", input="x")

    # A failure mid-stream: the error, then the failed response.
    events = list(client.responses.create(model="sim/flaky", input="go", stream=True))
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["error", "response.failed"], kinds
    assert "response.output_text.delta" in kinds


def test_an_agent_with_a_function_tool(served: Served) -> None:
    """The OpenAI Agents SDK: the agent calls its tool through the server, reads the
    result and answers with it (sim/agent answers "<tool> returned: <result>")."""
    set_tracing_disabled(True)
    seen: list[str] = []

    @function_tool
    def lookup(q: str) -> str:
        """Looks a word up."""
        seen.append(q)
        return "42"

    client = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=served.admin, max_retries=0)
    agent = Agent(
        name="finder", instructions="Use the lookup tool.", tools=[lookup],
        model=OpenAIResponsesModel(model="sim/agent", openai_client=client),
    )
    result = Runner.run_sync(agent, "find x")
    assert seen, "the tool was called"
    assert result.final_output == "`lookup` returned: 42"
