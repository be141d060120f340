"""The Python binding against the Rust engine: events, cancellation, errors, sync and async,
threads, uvloop, utilities."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import llm_compare
from llm_compare import (
    Engine,
    Event,
    InvalidRequest,
    LlmCompareError,
    NotFound,
    ProviderError,
    RateLimited,
    UnknownModel,
    attachment,
    file,
    image,
)

from conftest import Upstream

THREE = ["sim/echo", "sim/lorem", "sim/flaky"]
PROMPT = "compare these three models on one prompt please"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def collect(comparison: llm_compare.Comparison) -> list[Event]:
    return [e async for e in comparison]


def per_model(events: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    """Each model's events in order, without what legitimately differs between two runs
    (seq, timings, ids)."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for e in events:
        e = json.loads(json.dumps(e))
        e.pop("seq")
        for r in [e] + e.get("results", []):
            r.pop("timing", None)
            r.pop("request_id", None)
        e.pop("duration_ms", None)
        out.setdefault(e.get("model_index", "request"), []).append(e)
    return out


def test_three_sim_models_stream_one_schema() -> None:
    engine = Engine()
    events = run(collect(engine.compare(PROMPT, models=THREE, max_tokens=12)))
    assert events[0].type == "status" and events[0].status == "running"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "complete"
    chunks = [e for e in events if e.type == "response_chunk"]
    assert {e.model_index for e in chunks} == {0, 1, 2}
    text = "".join(e.delta for e in chunks if e.model_index == 0)
    assert text == PROMPT
    results = {e.model_index: e for e in events if e.type == "model_result"}
    assert results[0]["text"] == PROMPT and results[0]["finish_reason"] == "stop"
    assert results[1]["usage"]["output_tokens"] == 12
    assert results[2]["error"]["code"] == "server" and results[2]["partial"] is True
    assert events[-1]["status"] == "completed"
    # Every event is exactly the JSON the engine wrote, as SSE carries it.
    assert all(json.loads(e.json) == e for e in events)


def test_events_equal_the_rust_engines_for_the_same_request(binary: Path) -> None:
    args = ["run", "--json", "--max-tokens", "12"] + [x for m in THREE for x in ("-m", m)] + [PROMPT]
    out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)
    rust = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert rust and rust[-1]["type"] == "complete", out.stderr
    py = run(collect(Engine().compare(PROMPT, models=THREE, max_tokens=12)))
    assert len(py) == len(rust)
    assert per_model([dict(e) for e in py]) == per_model(rust)


def test_result_and_sync_iteration() -> None:
    engine = Engine()

    async def go() -> Event:
        return await engine.compare("hello there", models=["sim/echo", "sim/lorem"]).result()

    complete = run(go())
    assert complete.type == "complete"
    assert [r["model"] for r in complete.results] == ["sim/echo", "sim/lorem"]
    assert complete.results[0]["text"] == "hello there"

    sync = engine.compare_sync("hello there", models=["sim/echo", "sim/lorem"])
    events = list(sync)
    assert events[-1].type == "complete"
    assert per_model([dict(e) for e in events])[0] == per_model([dict(e) for e in run(collect(engine.compare("hello there", models=["sim/echo", "sim/lorem"])))])[0]
    # result() after iterating returns the same complete.
    assert sync.result()["results"][0]["text"] == "hello there"
    assert engine.compare_sync("x y", models=["sim/echo"]).result()["results"][0]["text"] == "x y"


def test_messages_system_and_params() -> None:
    engine = Engine()
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "the last one"},
    ]
    complete = run(engine.compare(messages, models=["sim/echo"], system="be brief", temperature=0.2).result())
    assert complete.results[0]["text"] == "the last one"


def test_cancelling_the_task_stops_the_upstream_call(upstream: Upstream) -> None:
    engine = Engine(upstream.config())

    async def go() -> float:
        comparison = engine.compare("go slowly", models=["slowup/m", "sim/lorem"])
        got: list[Event] = []

        async def consume() -> None:
            async for e in comparison:
                got.append(e)

        task = asyncio.create_task(consume())
        while not any(e.type == "response_chunk" and e.model_index == 0 for e in got):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await asyncio.to_thread(upstream.wait_closed)

    took = run(go())
    assert took < 1.0, f"upstream closed {took:.3f} s after the task was cancelled"


def test_aclose_and_async_with_stop_the_upstream_call(upstream: Upstream) -> None:
    engine = Engine(upstream.config())

    async def go() -> list[Event]:
        comparison = engine.compare("go slowly", models=["slowup/m"])
        async for e in comparison:
            if e.type == "response_chunk":
                break
        await comparison.aclose()
        await asyncio.to_thread(upstream.wait_closed)
        # The stream ends, cancelled, with the partial text kept.
        return [e async for e in comparison]

    rest = run(go())
    assert rest[-1].type == "complete" and rest[-1].status == "cancelled"
    assert rest[-1].results[0]["partial"] is True

    async def with_block() -> None:
        async with engine.compare("again", models=["slowup/m"]) as c:
            async for e in c:
                if e.type == "response_chunk":
                    break
        await asyncio.to_thread(upstream.wait_closed)

    run(with_block())
    assert upstream.requests == 2


def test_sync_close_stops_the_upstream_call(upstream: Upstream) -> None:
    engine = Engine(upstream.config())
    with engine.compare_sync("go slowly", models=["slowup/m"]) as c:
        for e in c:
            if e.type == "response_chunk":
                break
    assert upstream.wait_closed() < 1.0


def test_exceptions_map_as_listed() -> None:
    engine = Engine()
    with pytest.raises(UnknownModel) as unknown:
        engine.compare("x", models=["nope/model"])
    assert isinstance(unknown.value, InvalidRequest) and isinstance(unknown.value, LlmCompareError)
    assert unknown.value.code == "unknown_model"
    with pytest.raises(InvalidRequest) as bad:
        engine.compare("x", models=["sim/echo"], temperature=5)
    assert bad.value.field == "params.temperature"
    assert bad.value.code == "invalid_request" and bad.value.retryable is False
    with pytest.raises(InvalidRequest) as typo:
        engine.compare("x", models=["sim/echo"], temprature=1)
    assert "temprature" in str(typo.value)
    with pytest.raises(InvalidRequest):
        engine.compare("x", models=[])
    with pytest.raises(InvalidRequest) as cfg:
        Engine({"providers": {"x": {"kind": "nonsense"}}})
    assert cfg.value.field == "config"
    with pytest.raises(InvalidRequest, match="cannot read missing.toml"):
        Engine("missing.toml")

    async def registry() -> None:
        limited = Engine(max_active_per_owner=1)
        await limited.submit("x", models=["sim/slow"], owner="alice")
        with pytest.raises(RateLimited) as rl:
            await limited.submit("x", models=["sim/slow"], owner="alice")
        assert rl.value.code == "rate_limited" and rl.value.retryable is True
        # Another owner is not limited.
        await limited.submit("x", models=["sim/echo"], owner="bob")
        with pytest.raises(NotFound):
            await limited.stream("no-such-id", owner="alice")

    run(registry())

    # Upstream failures arrive as events; error_of turns them into the same exceptions.
    events = run(collect(engine.compare("x y z w", models=["sim/flaky", "sim/error"])))
    err = [e for e in events if e.type == "error"]
    exc = llm_compare.error_of(err[0])
    assert isinstance(exc, ProviderError)
    failed = {e.model_index: e for e in events if e.type == "model_result"}
    e1 = llm_compare.error_of(failed[1])
    assert isinstance(e1, ProviderError) and e1.code == "bad_request" and e1.retryable is False
    e0 = llm_compare.error_of(failed[0])
    assert isinstance(e0, ProviderError) and e0.code == "server" and e0.retryable is True
    assert llm_compare.error_of({"type": "model_result", "text": "ok"}) is None


def test_registry_submit_then_stream_and_resume() -> None:
    engine = Engine()

    async def go() -> None:
        rid = await engine.submit("one two three four", models=["sim/echo", "sim/lorem"], owner="alice", metadata={"t": 1})
        events = [e async for e in await engine.stream(rid, owner="alice")]
        assert events[-1].type == "complete" and events[-1].request_id == rid
        # Resume after seq 3: exactly the rest.
        rest = [e async for e in await engine.stream(rid, owner="alice", after_seq=3)]
        assert [e.seq for e in rest] == [e.seq for e in events[3:]]
        with pytest.raises(NotFound):
            await engine.stream(rid, owner="mallory")
        # SSE text, as the server sends it.
        sse = [s async for s in llm_compare.sse_stream(await engine.stream(rid, owner="alice"))]
        assert sse[0] == f"id: 1\nevent: status\ndata: {events[0].json}\n\n"
        assert len(sse) == len(events)
        # Cancel through the registry.
        slow = await engine.submit("x", models=["sim/slow"], owner="alice")
        assert engine.active("alice") == 1
        await engine.cancel(slow, owner="alice")
        end = [e async for e in await engine.stream(slow, owner="alice")]
        assert end[-1].status == "cancelled"

    run(go())


def test_sse_stream_sends_keepalive_comments_while_waiting() -> None:
    engine = Engine()

    async def go() -> list[str]:
        rid = await engine.submit("x", models=["sim/slow"], owner="k")
        out: list[str] = []
        async for s in llm_compare.sse_stream(await engine.stream(rid, owner="k"), keepalive=0.05):
            out.append(s)
            if out.count(": keep-alive\n\n") >= 2:
                break
        await engine.cancel(rid, owner="k")
        return out

    out = run(go())
    assert out[0].startswith("id: 1\nevent: status\n")
    assert ": keep-alive\n\n" in out


def test_many_tasks_and_threads_at_once() -> None:
    engine = Engine()

    async def many() -> list[Event]:
        return await asyncio.gather(*[engine.compare(f"task {i}", models=["sim/echo", "sim/lorem"]).result() for i in range(20)])

    results = run(many())
    assert [r.results[0]["text"] for r in results] == [f"task {i}" for i in range(20)]

    texts: dict[int, str] = {}

    def worker(i: int) -> None:
        texts[i] = engine.compare_sync(f"thread {i}", models=["sim/echo"]).result()["results"][0]["text"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert texts == {i: f"thread {i}" for i in range(8)}


def test_the_gil_is_released_while_rust_works() -> None:
    engine = Engine()
    ticks = 0
    stop = False

    def spin() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    before = ticks
    # ~60 words at 400/s: blocks this thread for ~150 ms.
    engine.compare_sync(" ".join(["w"] * 60), models=["sim/echo"]).result()
    during = ticks - before
    stop = True
    t.join()
    assert during > 20, f"the other thread ran only {during} times while Rust worked"


def test_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    engine = Engine()

    async def go() -> Event:
        return await engine.compare("under uvloop", models=["sim/echo"]).result()

    complete = uvloop.run(go())
    assert complete.results[0]["text"] == "under uvloop"


def test_models_and_utilities() -> None:
    engine = Engine({"prices": {"sim/echo": {"input": "1.5", "output": "2"}}})
    models = {m["id"]: m for m in engine.models()}
    assert models["sim/echo"]["available"] is True
    unavailable = [m for m in models.values() if not m["available"]]
    assert unavailable and all(m["reason"] for m in unavailable)
    assert llm_compare.count_tokens("hello world", "openai/gpt-4o") == 2
    gpt = llm_compare.price("openai/gpt-4o-mini")
    assert gpt is not None and gpt["input_usd_per_million"] > 0
    assert llm_compare.price("nobody/nothing") is None
    c = llm_compare.cost("openai/gpt-4o-mini", {"input_tokens": 1_000_000, "output_tokens": 0})
    assert c["priced"] is True and c["total_usd"] == pytest.approx(gpt["input_usd_per_million"])
    assert llm_compare.cost("nobody/nothing", {"input_tokens": 1, "output_tokens": 1})["priced"] is False
    # The engine's own table has the override.
    assert engine.price("sim/echo") == {**engine.price("sim/echo"), "input_usd_per_million": 1.5, "output_usd_per_million": 2.0}  # type: ignore[dict-item]
    assert engine.cost("sim/echo", {"input_tokens": 2_000_000, "output_tokens": 1_000_000})["total_usd"] == pytest.approx(5.0)
    # TOML text and a file configure the same way.
    toml = '[prices."sim/echo"]\ninput = "3"\noutput = "4"\n'
    assert Engine(toml).price("sim/echo")["input_usd_per_million"] == 3.0  # type: ignore[index]
    path = Path(__file__).parent / "_tmp_config.toml"
    path.write_text(toml)
    try:
        assert Engine(str(path)).price("sim/echo")["output_usd_per_million"] == 4.0  # type: ignore[index]
    finally:
        path.unlink()


PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_attachments_and_structured_output(tmp_path: Path) -> None:
    # Parts from bytes and from paths, their type read from the bytes.
    pic = image(PNG_BYTES)
    assert pic["type"] == "image" and pic["media_type"] == "image/png"
    (tmp_path / "notes.txt").write_text("some notes")
    notes = file(tmp_path / "notes.txt")
    assert notes["type"] == "file" and notes["media_type"] == "text/plain" and notes["name"] == "notes.txt"
    assert attachment("https://example.com/cat.jpg") == {"type": "image", "url": "https://example.com/cat.jpg"}
    with pytest.raises(InvalidRequest):
        image(tmp_path / "notes.txt")
    with pytest.raises(InvalidRequest) as bad:
        attachment(b"\xff\xfe\x00")
    assert bad.value.field == "attachment"
    # The engine takes them with the prompt, and judges JSON answers against the format.
    events = run(
        collect(
            Engine().compare(
                '{"ok": true}',
                models=["sim/echo", "sim/lorem"],
                attachments=[pic, notes],
                response_format={"type": "json_object"},
            )
        )
    )
    results = {e.model_index: e for e in events if e.type == "model_result"}
    assert results[0]["structured"] == {"valid": True}
    assert results[1]["structured"]["valid"] is False
    with pytest.raises(InvalidRequest) as bad:
        Engine().compare("x", models=["sim/echo"], attachments=[{"type": "image", "media_type": "image/png", "data": "bm9wZQ=="}])
    assert bad.value.field == "messages[0].content[1].media_type"


def test_evaluate_runs_rows_and_yields_a_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {"id": f"r{i}", "prompt": f"the sky is blue {i}", "assert": [{"type": "contains", "value": "sky"}]}
        for i in range(5)
    ]

    async def go() -> list[dict]:  # type: ignore[type-arg]
        engine = Engine(store=str(tmp_path / "db.sqlite"))
        return [e async for e in engine.evaluate(rows, models=["sim/echo", "sim/lorem"], judge="sim/judge")]

    events = asyncio.run(go())
    assert events[0]["type"] == "start" and events[0]["units"] == 5
    assert sorted(e["row_id"] for e in events[1:-1]) == [f"r{i}" for i in range(5)]
    summary = events[-1]
    assert summary["type"] == "summary"
    assert summary["models"][0]["pass_rate"] == 1.0
    assert summary["models"][0]["judge_rating"] == 1.0

    async def bad() -> None:
        engine = Engine()
        async for _ in engine.evaluate([{"promt": "x"}], models=["sim/echo"]):
            pass

    with pytest.raises(llm_compare.InvalidRequest, match=r"line 1: `promt`"):
        asyncio.run(bad())
