"""Python functions as tools: schemas derived from signatures, plain and async functions
executed in each model's loop, exceptions as error results, a cancelled comparison cancelling
the coroutine in flight, and the example script."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Literal, Optional

import pytest

import llm_compare
from llm_compare import Engine, tool_schema

ROOT = Path(__file__).resolve().parents[3]


class Unit(Enum):
    C = "celsius"
    F = "fahrenheit"


def forecast(city: str, days: int = 3, unit: Unit = Unit.C, hourly: Optional[bool] = None,
             mode: Literal["fast", "exact"] = "fast", tags: list[str] = []) -> str:  # noqa: B006
    """The forecast for a city.

    More details that are not the description.

    Args:
        city: the city's name
        days (int): how many days ahead
    """
    return city


def test_schemas_come_from_signatures_hints_defaults_and_docstrings() -> None:
    spec = tool_schema(forecast)["function"]
    assert spec["name"] == "forecast"
    assert spec["description"] == "The forecast for a city."
    params = spec["parameters"]
    assert params["required"] == ["city"]
    assert params["additionalProperties"] is False
    props = params["properties"]
    assert props["city"] == {"type": "string", "description": "the city's name"}
    assert props["days"] == {"type": "integer", "description": "how many days ahead", "default": 3}
    assert props["unit"] == {"enum": ["celsius", "fahrenheit"]}
    assert props["hourly"] == {"type": "boolean", "default": None}
    assert props["mode"] == {"enum": ["fast", "exact"], "default": "fast"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}


def square(x: float) -> float:
    """Squares a number."""
    return x * x


async def cube(x: float) -> dict[str, float]:
    """Cubes a number."""
    await asyncio.sleep(0)
    return {"cube": x * x * x}


async def run(engine: Engine, prompt: str, tools: list, models: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [dict(e) async for e in engine.compare(prompt, models=models, tools=tools)]


def results(events: list[dict], kind: str = "tool_result") -> list[dict]:  # type: ignore[type-arg]
    return [e for e in events if e["type"] == kind]


def test_plain_and_async_functions_run_in_each_models_loop() -> None:
    engine = Engine()
    events = asyncio.run(run(engine, "square 12", [square, cube], ["sim/agent", "sim/agent", "sim/echo"]))
    got = results(events)
    assert [r["content"] for r in got] == ["144.0", "144.0"]
    assert {r["model_index"] for r in got} == {0, 1}
    done = events[-1]
    assert done["results"][0]["text"] == "`square` returned: 144.0"
    assert done["results"][0]["steps"] == 2
    assert done["results"][2]["text"] == "square 12"
    # An async function, first offered; a dict comes back as JSON.
    events = asyncio.run(run(engine, "cube 2", [cube, square], ["sim/agent"]))
    assert results(events)[0]["content"] == '{"cube": 8.0}'


def test_an_exception_is_an_error_result_the_model_sees() -> None:
    def lookup(key: str) -> str:
        raise KeyError(f"no entry {key}")

    events = asyncio.run(run(Engine(), "find it", [lookup], ["sim/agent", "sim/echo"]))
    r = results(events)[0]
    assert r["is_error"] is True
    assert "KeyError" in r["content"] and "no entry find it" in r["content"]
    assert events[-1]["status"] == "completed"


def test_cancelling_the_comparison_cancels_the_coroutine() -> None:
    asyncio.run(cancelling())


async def cancelling() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(q: str) -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    comparison = Engine().compare("go", models=["sim/agent"], tools=[slow])

    async def cancel_when_started() -> None:
        await started.wait()
        await comparison.aclose()

    asyncio.ensure_future(cancel_when_started())
    events = [e async for e in comparison]
    assert events[-1]["status"] == "cancelled"
    await asyncio.wait_for(cancelled.wait(), 5)


def test_blocking_iteration_runs_async_tools_too() -> None:
    events = [dict(e) for e in Engine().compare_sync("cube 3", models=["sim/agent"], tools=[cube], max_steps=2)]
    assert results(events)[0]["content"] == '{"cube": 27.0}'
    with pytest.raises(llm_compare.InvalidRequest) as e:
        list(Engine().compare_sync("x", models=["sim/agent"], tools=["no_such_tool"]))
    assert e.value.field == "tools[0]"


def test_the_example_script_prints_each_models_steps() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "agent_tools.py")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    lines = out.splitlines()
    assert sum(" tool_result " in l for l in lines) == 3, out
    assert sum("`square` returned: 144.0" in l for l in lines) == 3, out


def test_submitted_comparisons_run_python_tools_too() -> None:
    async def go() -> list[dict]:  # type: ignore[type-arg]
        engine = Engine()
        rid = await engine.submit("square 5", owner="ann", models=["sim/agent"], tools=[square])
        return [dict(e) async for e in await engine.stream(rid, owner="ann")]

    events = asyncio.run(go())
    assert results(events)[0]["content"] == "25.0"
    assert events[-1]["results"][0]["text"] == "`square` returned: 25.0"


def test_client_side_tools_are_answered_with_tool_results() -> None:
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}}}

    async def go() -> list[dict]:  # type: ignore[type-arg]
        engine = Engine()
        rid = await engine.submit(
            "tea", owner="ann", models=["sim/agent"], client_tools=[lookup], tool_timeout_s=30
        )
        events = []
        async for e in await engine.stream(rid, owner="ann"):
            events.append(dict(e))
            if e["type"] == "action":
                assert e["arguments"] == {"word": "tea"}
                answer = {"model_index": e["model_index"], "call_id": e["call_id"], "content": "a drink"}
                with pytest.raises(llm_compare.Conflict, match=r"results\[1\]"):
                    await engine.tool_results(
                        rid, [answer, {**answer, "call_id": "nope"}], owner="ann"
                    )
                assert await engine.tool_results(rid, [answer], owner="ann") == 1
        return events

    events = asyncio.run(go())
    assert [e["type"] for e in events].count("action") == 1
    assert events[-1]["results"][0]["text"] == "`lookup` returned: a drink"
