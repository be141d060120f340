"""The FastAPI example under a real uvicorn server on loopback, through httpx."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

HERE = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Bearer tok-alice"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        ASSISTANT_TOKENS="alice:tok-alice,bob:tok-bob,carol:tok-carol",
        ASSISTANT_MAX_ACTIVE="2",
        ASSISTANT_STORE=str(tmp_path_factory.mktemp("store") / "assistant.db"),
        LLM_COMPARE_SIM_TTFT_MS="5",
        LLM_COMPARE_SIM_SLOW_TTFT_MS="30000",
        LLM_COMPARE_SIM_TOKENS_PER_S="400",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=HERE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/docs", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("uvicorn did not start")
    yield url
    proc.terminate()
    proc.wait(10)


def sse(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "data" in fields:
            out.append((fields["id"], fields["event"], json.loads(fields["data"])))
    return out


def test_post_then_stream(base: str) -> None:
    r = httpx.post(base + "/assistant/request", json={"prompt": "hello from fastapi", "models": ["sim/echo", "sim/lorem"], "max_tokens": 5}, headers=AUTH)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and len(body["request_id"]) == 36
    with httpx.stream("GET", f"{base}/assistant/stream/{body['request_id']}", headers=AUTH, timeout=30) as s:
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        events = sse(s.read().decode())
    assert [int(i) for i, _, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1] == "complete"
    complete = events[-1][2]
    assert complete["request_id"] == body["request_id"]
    assert complete["results"][0]["text"] == "hello from fastapi"
    assert complete["results"][1]["usage"]["output_tokens"] == 5
    # Last-Event-ID resumes after that event.
    with httpx.stream("GET", f"{base}/assistant/stream/{body['request_id']}", headers={**AUTH, "Last-Event-ID": "4"}, timeout=30) as s:
        rest = sse(s.read().decode())
    assert [e[0] for e in rest] == [e[0] for e in events[4:]]


def test_each_error_code(base: str) -> None:
    # 401: no token, or a wrong one.
    assert httpx.post(base + "/assistant/request", json={"prompt": "x"}).status_code == 401
    assert httpx.get(base + "/assistant/stream/x", headers={"Authorization": "Bearer nope"}).status_code == 401
    # 404: unknown, or another user's.
    r = httpx.get(base + "/assistant/stream/01900000-0000-7000-8000-000000000000", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    mine = httpx.post(base + "/assistant/request", json={"prompt": "x", "models": ["sim/echo"]}, headers=AUTH).json()
    assert httpx.get(f"{base}/assistant/stream/{mine['request_id']}", headers={"Authorization": "Bearer tok-bob"}).status_code == 404
    # 400: an unknown model, a bad parameter (the field named).
    r = httpx.post(base + "/assistant/request", json={"prompt": "x", "models": ["nope/x"]}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_model"
    r = httpx.post(base + "/assistant/request", json={"prompt": "x", "temperature": 9}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["field"] == "params.temperature"
    # 429: over the per-user limit of 2 running comparisons; another user is unaffected.
    slow = [httpx.post(base + "/assistant/request", json={"prompt": "x", "models": ["sim/slow"]}, headers=AUTH) for _ in range(2)]
    assert [r.status_code for r in slow] == [201, 201]
    r = httpx.post(base + "/assistant/request", json={"prompt": "x", "models": ["sim/slow"]}, headers=AUTH)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "rate_limited"
    bob = httpx.post(base + "/assistant/request", json={"prompt": "x", "models": ["sim/echo"]}, headers={"Authorization": "Bearer tok-bob"})
    assert bob.status_code == 201


def test_vote_then_leaderboard(base: str) -> None:
    carol = {"Authorization": "Bearer tok-carol"}  # alice's slots are busy (see above)
    ids = []
    for _ in range(2):
        r = httpx.post(base + "/assistant/request", json={"prompt": "vote", "models": ["sim/echo", "sim/lorem"], "max_tokens": 3}, headers=carol)
        rid = r.json()["request_id"]
        with httpx.stream("GET", f"{base}/assistant/stream/{rid}", headers=carol, timeout=30) as s:
            assert sse(s.read().decode())[-1][1] == "complete"
        ids.append(rid)
    r = httpx.post(f"{base}/assistant/preference/{ids[0]}", json={"winner": 1, "feedback": "richer"}, headers=carol)
    assert r.status_code == 201 and r.json() == {"winner": 1, "feedback": "richer"}
    assert httpx.post(f"{base}/assistant/preference/{ids[1]}", json={"winner": "tie"}, headers=carol).status_code == 201
    r = httpx.post(f"{base}/assistant/preference/{ids[0]}", json={"winner": 0}, headers=carol)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = httpx.post(f"{base}/assistant/preference/{ids[0]}", json={"winner": 0}, headers=AUTH)
    assert r.status_code == 404
    board = httpx.get(base + "/assistant/leaderboard", headers=carol).json()
    rows = {m["model"]: m for m in board["models"]}
    assert board["votes"] == 2 and rows["sim/lorem"]["wins"] == 1 and rows["sim/echo"]["ties"] == 1
    assert rows["sim/lorem"]["rank"] == 1
