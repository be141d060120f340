"""The MCP door with the official Python MCP SDK's client (`mcp` on PyPI, issue 47), over both
transports: streamable HTTP at `/mcp` of a running `llm-compare serve` (behind its keys) and
stdio (`llm-compare mcp`, started by the client). Each lists the tools, compares two simulated
models, lists the models, runs an evaluation and reads the leaderboard; a refused call is a
tool error naming the service's code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

from conftest import Served, clean_env

TOOLS = {"compare", "list_models", "run_evaluation", "leaderboard"}


async def exercise(session: ClientSession) -> None:
    await session.initialize()
    listed = await session.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    compare = next(t for t in listed.tools if t.name == "compare")
    assert compare.input_schema["required"] == ["prompt", "models"]

    got = await session.call_tool("compare", {"prompt": "a b c", "models": ["sim/echo", "sim/lorem"]})
    assert not got.is_error, got
    result: Any = got.structured_content
    assert result["status"] == "completed"
    echo, lorem = result["models"]
    assert (echo["model"], echo["text"]) == ("sim/echo", "a b c")
    assert lorem["model"] == "sim/lorem" and lorem["text"]
    assert echo["cost_usd"] == 0 and echo["output_tokens"] == 3 and echo["total_ms"] >= 0

    refused = await session.call_tool("compare", {"prompt": "x", "models": ["nope/x"]})
    assert refused.is_error
    assert refused.structured_content is not None
    assert refused.structured_content["error"]["code"] == "unknown_model"

    models = (await session.call_tool("list_models", {})).structured_content
    assert models is not None and "sim/echo" in [m["id"] for m in models["models"]]

    run = await session.call_tool("run_evaluation", {
        "models": ["sim/echo"],
        "rows": [{"prompt": "say hi", "assert": [{"type": "contains", "value": "hi"}]}],
    })
    assert not run.is_error, run
    assert run.structured_content is not None
    summary = run.structured_content["summary"]
    assert summary["rows"] == 1 and summary["models"][0]["model"] == "sim/echo"

    board = await session.call_tool("leaderboard", {})
    assert not board.is_error and board.structured_content is not None
    assert "votes" in board.structured_content


def test_over_streamable_http_behind_the_keys(served: Served) -> None:
    async def main() -> None:
        headers = {"Authorization": f"Bearer {served.admin}"}
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(served.url + "/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await exercise(session)

        # A key that may use only sim/echo: the other model is refused, by name.
        headers = {"Authorization": f"Bearer {served.echo_only}"}
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(served.url + "/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    got = await session.call_tool("compare", {"prompt": "x", "models": ["sim/lorem"]})
                    assert got.is_error and got.structured_content is not None
                    assert got.structured_content["error"]["code"] == "model_not_allowed"

    asyncio.run(main())

    # No key: the route refuses before any MCP is spoken.
    r = httpx2.post(
        served.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"accept": "application/json, text/event-stream"},
    )
    assert r.status_code == 401


def test_over_stdio(binary: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=str(binary), args=["mcp", "--data-dir", str(tmp_path)], env=clean_env(),
    )

    async def main() -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session)

    asyncio.run(main())
