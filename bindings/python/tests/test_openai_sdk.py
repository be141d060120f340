"""The official `openai` SDK against `llm-compare serve`'s /v1/chat/completions: a vision
request (text + an image as a data URL) and structured output, streamed and not, reach an
OpenAI-compatible upstream in its native shape; a bad image is a 400 naming its part."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import openai
import pytest

# A 1 × 1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


class Recorder:
    """An OpenAI-compatible upstream that records request bodies and answers `{"ok": true}`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                recorder.bodies.append(json.loads(body))
                chunk = {"id": "c", "object": "chat.completion.chunk", "model": "vision",
                         "choices": [{"index": 0, "delta": {"content": '{"ok": true}'}, "finish_reason": "stop"}]}
                out = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def served(binary: Path, tmp_path: Path) -> Iterator[tuple[openai.OpenAI, Recorder]]:
    up = Recorder()
    config = tmp_path / "llm-compare.toml"
    config.write_text(
        f'[providers.up]\nkind = "openai"\nbase_url = "http://127.0.0.1:{up.server.server_address[1]}/v1"\n'
        'models = ["vision"]\n'
    )
    proc = subprocess.Popen(
        [str(binary), "--config", str(config), "serve", "--bind", "127.0.0.1:0", "--no-ui",
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), url
        yield openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0), up
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        up.server.shutdown()


VISION: list[Any] = [{"role": "user", "content": [
    {"type": "text", "text": "What is in this image?"},
    {"type": "image_url", "image_url": {"url": DATA_URL}},
]}]


def test_a_vision_request_reaches_the_upstream_in_its_native_shape(
    served: tuple[openai.OpenAI, Recorder],
) -> None:
    client, up = served
    answer = client.chat.completions.create(model="up/vision", messages=VISION)
    assert answer.choices[0].message.content == '{"ok": true}'
    stream = client.chat.completions.create(model="up/vision", messages=VISION, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == '{"ok": true}'
    assert len(up.bodies) == 2
    for body in up.bodies:
        assert body["messages"] == VISION


def test_structured_output_is_asked_for_and_judged(served: tuple[openai.OpenAI, Recorder]) -> None:
    client, up = served
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    answer = client.chat.completions.create(
        model="up/vision",
        messages=[{"role": "user", "content": "ok?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "okay", "schema": schema, "strict": True}},
    )
    assert json.loads(answer.choices[0].message.content or "") == {"ok": True}
    assert up.bodies[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "okay", "schema": schema, "strict": True},
    }


def test_a_bad_image_is_refused_naming_its_part(served: tuple[openai.OpenAI, Recorder]) -> None:
    client, up = served
    bad: list[Any] = [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(PNG).decode()}},
    ]}]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="up/vision", messages=bad)
    assert e.value.status_code == 400
    # OpenAI's error shape: the failing field in `param`.
    assert isinstance(e.value.body, dict)
    assert e.value.body["param"] == "messages[0].content[1].media_type"
    assert "image/jpeg" in e.value.body["message"]
    assert up.bodies == []
