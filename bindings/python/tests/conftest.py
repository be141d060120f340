"""Shared fixtures: a fast sim timing, the `llm-compare` binary (the Rust engine's own CLI,
for comparing events), and a slow OpenAI-compatible upstream on loopback that records when
its clients go away (to prove cancellation reaches the upstream)."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def fast_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real keys in a developer's env must never make tests call providers.
    for k in list(os.environ):
        if k.endswith("_API_KEY"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("LLM_COMPARE_SIM_TTFT_MS", "5")
    monkeypatch.setenv("LLM_COMPARE_SIM_SLOW_TTFT_MS", "30000")
    monkeypatch.setenv("LLM_COMPARE_SIM_TOKENS_PER_S", "400")
    monkeypatch.chdir(Path(__file__).parent)  # no stray llm-compare.toml


@pytest.fixture(scope="session")
def binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = Path(os.environ.get("LLM_COMPARE_BIN", target / "debug" / "llm-compare"))
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cargo build -p llm-compare-http`")
    return path


class Upstream:
    """Streams an OpenAI chat completion slowly (one chunk per 50 ms, for 20 s)."""

    def __init__(self) -> None:
        self.requests = 0
        self.open = 0
        self.closed_at: list[float] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self.rfile.read(length)
                with upstream.lock:
                    upstream.requests += 1
                    upstream.open += 1
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                try:
                    for i in range(400):
                        data = (
                            'data: {"id":"c","object":"chat.completion.chunk","model":"m",'
                            f'"choices":[{{"index":0,"delta":{{"content":"w{i} "}}}}]}}\n\n'
                        ).encode()
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with upstream.lock:
                        upstream.open -= 1
                        upstream.closed_at.append(time.monotonic())
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self) -> dict[str, object]:
        return {"providers": {"slowup": {"kind": "openai", "base_url": f"http://127.0.0.1:{self.port}/v1"}}}

    def wait_closed(self, timeout: float = 5.0) -> float:
        """Seconds until every upstream request was closed (raises if not in time)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            with self.lock:
                if self.requests and self.open == 0:
                    return time.monotonic() - start
            time.sleep(0.01)
        raise AssertionError(f"upstream still open: {self.open} of {self.requests}")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `llm-compare serve` on the simulated models and its keys: an admin's, one
    that may use only `sim/echo`, one allowed one request a minute."""

    url: str
    admin: str
    echo_only: str
    once_per_minute: str



def clean_env() -> dict[str, str]:
    """The environment without a developer's real keys or sim settings."""
    return {
        k: v for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("LLM_COMPARE_")
    } | {"LLM_COMPARE_SIM_TTFT_MS": "0", "LLM_COMPARE_SIM_TOKENS_PER_S": "0", "RUST_LOG": "warn"}


@pytest.fixture(scope="module")
def served(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("openai-clients")
    env = clean_env()

    def mint(*args: str) -> str:
        out = subprocess.run(
            [str(binary), "keys", "--data-dir", str(data), "create", *args],
            env=env, check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    admin = mint("--user", "root", "--admin")
    echo_only = mint("--user", "carol", "--models", "sim/echo")
    once = mint("--user", "dave", "--rpm", "1")
    proc = subprocess.Popen(
        [str(binary), "serve", "--bind", "127.0.0.1:0", "--no-ui", "--data-dir", str(data)],
        stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), url
        yield Served(url, admin, echo_only, once)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
