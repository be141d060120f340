"""llm-compare for Python: one prompt to N models at once, every model's tokens streamed
back as one event stream (the same events the server sends over SSE), with per-model time to
first token, latency, tokens and cost.

    import asyncio
    from llm_compare import Engine

    async def main() -> None:
        engine = Engine()
        async for event in engine.compare("Hello!", models=["sim/echo", "sim/lorem"]):
            if event.type == "response_chunk":
                print(event.model_index, event.delta)

    asyncio.run(main())

The work happens in Rust (the llm-compare engine); the GIL is released while it runs.
"""

from __future__ import annotations

import asyncio
import atexit
import enum
import inspect
import json
import os
import re
import types
import typing
from datetime import datetime
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
    Union,
)

from . import _native
from ._native import (
    BudgetExceeded,
    Conflict,
    InvalidRequest,
    LlmCompareError,
    NotConfigured,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
    UnknownModel,
)

__version__: str = _native.__version__

# At exit, let the runtime's threads finish handing results to Python before the
# interpreter goes away (see runtime.rs in the binding crate).
atexit.register(_native._quiesce)

__all__ = [
    "BudgetExceeded",
    "Comparison",
    "Conflict",
    "Engine",
    "Event",
    "EventStream",
    "InvalidRequest",
    "attachment",
    "file",
    "image",
    "LlmCompareError",
    "NotConfigured",
    "NotFound",
    "PermissionDenied",
    "ProviderError",
    "RateLimited",
    "SyncComparison",
    "Unavailable",
    "UnknownModel",
    "cost",
    "count_tokens",
    "error_of",
    "format_sse",
    "price",
    "sse_stream",
    "tool_schema",
]

Message = Mapping[str, Any]
"""A chat message: ``{"role": "user" | "assistant" | "system", "content": str}``."""


class Event(dict):  # type: ignore[type-arg]
    """One event of the shared schema (see docs/events.md): a dict equal to the SSE ``data``
    JSON, with attribute access (``event.type``, ``event.seq``, ``event.delta``)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: str) -> None:
        super().__init__(json.loads(raw))
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def json(self) -> str:
        """The event's JSON text exactly as the engine wrote it."""
        return self._raw


def format_sse(event: Event) -> str:
    """One event as an SSE message, byte for byte what ``llm-compare serve`` sends:
    ``id: <seq>``, ``event: <type>``, ``data: <json>``."""
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {event.json}\n\n"


async def sse_stream(
    events: AsyncIterable[Event], *, keepalive: Optional[float] = 15.0
) -> AsyncIterator[str]:
    """SSE text for a streaming response (FastAPI's ``StreamingResponse``, Starlette, aiohttp),
    with ``: keep-alive`` comments when no event came for ``keepalive`` seconds."""
    iterator = events.__aiter__()
    pending: Optional[asyncio.Future[Event]] = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if not done:
                yield ": keep-alive\n\n"
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                return
            yield format_sse(event)
    finally:
        if pending is not None:
            pending.cancel()


def error_of(event: Mapping[str, Any]) -> Optional[LlmCompareError]:
    """The exception (not raised) for an ``error`` event or a failed ``model_result``:
    a ``ProviderError`` with ``code`` and ``retryable`` for upstream failures."""
    err: Any = event.get("error") if event.get("type") != "error" else event
    if not err:
        return None
    exc: LlmCompareError = _native.error_for(err["code"], err["message"], bool(err.get("retryable")))
    return exc


def attachment(source: Union[str, bytes, "os.PathLike[str]"], *, name: Optional[str] = None) -> dict[str, Any]:
    """An image or file part for ``attachments=`` (or a message's content list): a path, an
    ``https://`` or ``data:`` URL, or bytes; the type is read from the bytes (png, jpeg, gif,
    webp; PDF; UTF-8 text). Raises :class:`InvalidRequest` for anything else."""
    if isinstance(source, bytes):
        text = _native.attachment_from_bytes(source, name)
    else:
        text = _native.attachment_from_path(os.fspath(source))
    part: dict[str, Any] = json.loads(text)
    return part


def image(source: Union[str, bytes, "os.PathLike[str]"]) -> dict[str, Any]:
    """An image part (see :func:`attachment`); raises :class:`InvalidRequest` if it is not one."""
    part = attachment(source)
    if part["type"] != "image":
        raise InvalidRequest(f"not an image: {part.get('media_type')}")
    return part


def file(source: Union[str, bytes, "os.PathLike[str]"], *, name: Optional[str] = None) -> dict[str, Any]:
    """A file part — a PDF or a text file (see :func:`attachment`)."""
    part = attachment(source, name=name)
    if part["type"] != "file":
        raise InvalidRequest(f"not a PDF or a text file: {part.get('media_type')}")
    return part


Tool = Union[Callable[..., Any], Mapping[str, Any], str]
"""A tool: a Python function (plain or ``async``; executed in the loop), the name of one of
the server's tools, or an OpenAI function definition (its calls end the answer)."""

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_schema(t: Any) -> dict[str, Any]:
    """The JSON Schema of a type hint (``Any`` and unknown types: no constraint)."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if t in _JSON_TYPES:
        return {"type": _JSON_TYPES[t]}
    if origin in (Union, getattr(types, "UnionType", Union)):
        options = [a for a in args if a is not type(None)]
        return _type_schema(options[0]) if len(options) == 1 else {"anyOf": [_type_schema(a) for a in options]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset, Sequence) or t in (list, tuple, set):
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array"}
    if origin in (dict, Mapping) or t is dict:
        return {"type": "object"}
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return {"enum": [m.value for m in t]}
    return {}


def _doc_params(doc: str) -> dict[str, str]:
    """Parameter descriptions from a docstring's ``Args:`` section (``name: text`` lines)."""
    out: dict[str, str] = {}
    section = re.split(r"\n\s*(?:Args|Arguments|Parameters):\s*\n", doc, maxsplit=1)
    if len(section) == 2:
        for line in section[1].splitlines():
            m = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)", line)
            if m:
                out[m.group(1)] = m.group(2).strip()
            elif line.strip() and not line.startswith((" ", "\t")):
                break
    return out


def tool_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The tool definition the models are offered for ``fn``: its name, its docstring's first
    paragraph as the description, and a JSON Schema of its parameters from their type hints
    (``str``, ``int``, ``float``, ``bool``, ``list[...]``, ``dict``, ``Optional[...]``,
    ``Literal[...]``, enums), defaults (a parameter with one is optional) and the docstring's
    ``Args:`` lines."""
    doc = inspect.getdoc(fn) or ""
    hints = typing.get_type_hints(fn)
    described = _doc_params(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        schema = _type_schema(hints.get(name, Any))
        if name in described:
            schema["description"] = described[name]
        if p.default is p.empty:
            required.append(name)
        elif p.default is None or isinstance(p.default, (str, int, float, bool)):
            schema["default"] = p.default
        properties[name] = schema
    description = doc.split("\n\n", 1)[0].strip() or fn.__name__
    return {
        "type": "function",
        "function": {
            "name": fn.__name__,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required, "additionalProperties": False},
        },
    }


def _split_tools(
    tools: Optional[Sequence[Tool]],
) -> tuple[Optional[list[Any]], Optional[list[tuple[str, str, str, Any]]]]:
    """The body's ``tools`` (functions by name) and the functions for the engine."""
    if not tools:
        return None, None
    body: list[Any] = []
    functions: list[tuple[str, str, str, Any]] = []
    for t in tools:
        if callable(t) and not isinstance(t, (str, Mapping)):
            spec = tool_schema(t)["function"]
            functions.append((spec["name"], spec["description"], json.dumps(spec["parameters"]), t))
            body.append(spec["name"])
        else:
            body.append(t if isinstance(t, str) else dict(t))
    return body, functions or None


def _body(
    prompt: Union[str, Sequence[Message], None],
    models: Sequence[str],
    system: Optional[str],
    tools: Optional[Sequence[Any]],
    tool_choice: Any,
    params: Mapping[str, Any],
    **extra: Any,
) -> str:
    """The JSON body of ``POST /v1/comparisons`` (the engine checks it the same way)."""
    params = dict(params)
    # Not generation parameters: request fields of their own.
    for key in (
        "attachments",
        "response_format",
        "max_steps",
        "tool_mode",
        "cassette",
        "client_tools",
        "tool_timeout_s",
    ):
        if key in params:
            extra[key] = params.pop(key)
    body: dict[str, Any] = {"models": [models] if isinstance(models, str) else list(models)}
    if isinstance(prompt, str):
        body["prompt"] = prompt
    elif prompt is not None:
        body["messages"] = [dict(m) for m in prompt]
    if params:
        body["params"] = dict(params)
    if system is not None:
        body["system"] = system
    if tools:
        body["tools"] = [t if isinstance(t, str) else dict(t) for t in tools]
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    body.update({k: v for k, v in extra.items() if v is not None})
    return json.dumps(body)


def _ms(t: Union[datetime, int, None]) -> Optional[int]:
    if t is None or isinstance(t, int):
        return t
    return int(t.timestamp() * 1000)


def _instant(t: Union[datetime, int, str]) -> str:
    """A time as the service reads it: Unix ms, or RFC 3339 / a date as given."""
    return t if isinstance(t, str) else str(_ms(t))


def _usage_query(
    since: Union[datetime, int, None], until: Union[datetime, int, None], group_by: str
) -> str:
    query: dict[str, Any] = {"group_by": group_by}
    for key, t in (("from", _ms(since)), ("to", _ms(until))):
        if t is not None:
            query[key] = str(t)
    return json.dumps(query)


def _obj(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _list(text: str) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads(text)
    return value


class _Handle:
    """What both comparison kinds share: the native handle, its id and models."""

    __slots__ = ("_native",)

    def __init__(self, native: Union[_native.Comparison, _native.SyncComparison]) -> None:
        self._native = native

    @property
    def request_id(self) -> str:
        return self._native.request_id

    @property
    def models(self) -> list[str]:
        return self._native.models


class Comparison(_Handle):
    """A running comparison: an async iterator of :class:`Event` ending with ``complete``.

    ``await comparison.result()`` waits for the end and returns the ``complete`` event.
    ``await comparison.aclose()``, leaving ``async with``, or cancelling the task that awaits
    it cancels the upstream calls."""

    __slots__ = ()
    _native: _native.Comparison

    def __aiter__(self) -> Comparison:
        return self

    async def __anext__(self) -> Event:
        try:
            return Event(await self._native.__anext__())
        except asyncio.CancelledError:
            # The awaiting task was cancelled (even just after an event arrived): stop upstream.
            self._native.cancel()
            raise

    async def result(self) -> Event:
        """The ``complete`` event (every model's result, totals, duration)."""
        try:
            return Event(await self._native.result())
        except asyncio.CancelledError:
            self._native.cancel()
            raise

    async def aclose(self) -> None:
        """Cancels the upstream calls; unfinished models end ``cancelled``."""
        self._native.cancel()

    async def __aenter__(self) -> Comparison:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._native.finished:
            await self.aclose()


class SyncComparison(_Handle):
    """A running comparison as a blocking iterator (scripts, notebooks)."""

    __slots__ = ()
    _native: _native.SyncComparison

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return Event(self._native.__next__())

    def result(self) -> Event:
        return Event(self._native.result())

    def close(self) -> None:
        self._native.cancel()

    def __enter__(self) -> SyncComparison:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._native.finished:
            self.close()


class EventStream:
    """A registered request's events (replayed from ``after_seq``, then live)."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.EventStream) -> None:
        self._native = native

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        return Event(await self._native.__anext__())


class Engine:
    """The llm-compare engine.

    ``config`` is the server's configuration: a path to a TOML file, TOML text, a dict of the
    same shape, or None (``llm-compare.toml`` in the working directory if there is one).
    Provider keys come from the environment (``OPENAI_API_KEY``, …); simulated models
    (``sim/*``) need none. Safe to share between tasks and threads.

    ``store`` — a database for what outlives a request, as the server keeps it: a file path
    or ``sqlite://…`` (SQLite, created if missing) or ``postgres://…``. With it, submitted
    comparisons are recorded (results, usage), and sessions, votes and the leaderboard work.
    ``instance_id`` — a stable name for this process in the store: on start-up, comparisons
    it left running (a crash) are marked ``interrupted``. Without one each process gets a
    unique name, so several workers can share a database."""

    __slots__ = ("_native",)

    def __init__(
        self,
        config: Union[str, os.PathLike[str], Mapping[str, Any], None] = None,
        *,
        store: Union[str, os.PathLike[str], None] = None,
        instance_id: Optional[str] = None,
        max_active_per_owner: Optional[int] = None,
    ) -> None:
        if config is None:
            kind, text = "default", None
        elif isinstance(config, Mapping):
            kind, text = "json", json.dumps(config)
        elif isinstance(config, os.PathLike) or (
            isinstance(config, str)
            and "\n" not in config
            and (os.path.exists(config) or config.endswith(".toml"))
        ):
            kind, text = "path", os.fspath(config)
        else:
            kind, text = "toml", str(config)
        store_url: Optional[str] = None
        if store is not None:
            store_url = os.fspath(store)
            if "://" not in store_url and not store_url.startswith("sqlite:"):
                store_url = "sqlite://" + os.path.abspath(store_url)
        self._native = _native.Engine(kind, text, max_active_per_owner, store_url, instance_id)

    @property
    def has_store(self) -> bool:
        """Whether a store is configured (sessions, votes, the leaderboard)."""
        return self._native.has_store

    def models(self) -> list[dict[str, Any]]:
        """Every model: id, provider, context window, prices, available or why not."""
        models: list[dict[str, Any]] = json.loads(self._native.models_json())
        return models

    def compare(
        self,
        prompt: Union[str, Sequence[Message], None] = None,
        *,
        models: Sequence[str],
        system: Optional[str] = None,
        tools: Optional[Sequence[Tool]] = None,
        tool_choice: Any = None,
        **params: Any,
    ) -> Comparison:
        """Starts a comparison of ``models`` on ``prompt`` (a string, or a list of messages).
        ``params``: temperature, max_tokens, top_p, stop, seed; also ``attachments`` (parts
        from :func:`image`, :func:`file`, :func:`attachment`, sent with the prompt) and
        ``response_format`` (``{"type": "json_schema", "json_schema": {...}}``: each result
        then says whether its answer is valid, ``structured``).

        ``tools``: Python functions (plain or ``async``; their schema from
        :func:`tool_schema`) are executed in each model's own loop — ``max_steps`` (default
        8) and ``tool_mode`` (``"shared"``: one execution per distinct call) apply; an
        exception is an error result the model sees. Also server tool names and plain
        definitions."""
        body_tools, functions = _split_tools(tools)
        return Comparison(
            self._native.compare(_body(prompt, models, system, body_tools, tool_choice, params), functions)
        )

    def compare_sync(
        self,
        prompt: Union[str, Sequence[Message], None] = None,
        *,
        models: Sequence[str],
        system: Optional[str] = None,
        tools: Optional[Sequence[Tool]] = None,
        tool_choice: Any = None,
        **params: Any,
    ) -> SyncComparison:
        """Like :meth:`compare`, as a blocking iterator (``async`` tools run in
        ``asyncio.run``)."""
        body_tools, functions = _split_tools(tools)
        return SyncComparison(
            self._native.compare_sync(_body(prompt, models, system, body_tools, tool_choice, params), functions)
        )

    async def submit(
        self,
        prompt: Union[str, Sequence[Message], None] = None,
        *,
        owner: str,
        models: Sequence[str] = (),
        system: Optional[str] = None,
        tools: Optional[Sequence[Tool]] = None,
        tool_choice: Any = None,
        metadata: Optional[Mapping[str, Any]] = None,
        session_id: Optional[str] = None,
        blind: bool = False,
        **params: Any,
    ) -> str:
        """Registers and starts a comparison for ``owner`` (POST-then-stream); returns its
        request id. With a store it is recorded first. ``session_id``: the next turn of a
        session (give the prompt; the models are the session's). ``blind``: model names are
        "Model A", … in shuffled order until the vote. Raises :class:`RateLimited` over the
        owner's active limit, :class:`Conflict` while the session's last turn runs."""
        info = await self.submit_info(
            prompt,
            owner=owner,
            models=models,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            metadata=metadata,
            session_id=session_id,
            blind=blind,
            **params,
        )
        request_id: str = info["request_id"]
        return request_id

    async def submit_info(
        self,
        prompt: Union[str, Sequence[Message], None] = None,
        *,
        owner: str,
        models: Sequence[str] = (),
        system: Optional[str] = None,
        tools: Optional[Sequence[Tool]] = None,
        tool_choice: Any = None,
        metadata: Optional[Mapping[str, Any]] = None,
        session_id: Optional[str] = None,
        blind: bool = False,
        **params: Any,
    ) -> dict[str, Any]:
        """Like :meth:`submit`, returning what ``POST /v1/comparisons`` answers:
        ``request_id``, ``models`` (blind labels when blind) and, for a session turn,
        ``history_trimmed`` (earlier turns left out per model to fit its context window).
        ``tools`` may hold Python functions, as in :meth:`compare`."""
        body_tools, functions = _split_tools(tools)
        body = _body(
            prompt,
            models,
            system,
            body_tools,
            tool_choice,
            params,
            metadata=None if metadata is None else dict(metadata),
            session_id=session_id,
            blind=blind or None,
        )
        info: dict[str, Any] = json.loads(await self._native.submit(body, owner, functions))
        return info

    async def stream(self, request_id: str, *, owner: str, after_seq: Optional[int] = None) -> EventStream:
        """The events of ``owner``'s request after ``after_seq`` (a ``Last-Event-ID``):
        replayed, then live, to ``complete``. Raises :class:`NotFound`."""
        return EventStream(await self._native.stream(request_id, owner, after_seq or 0))

    async def cancel(self, request_id: str, *, owner: str) -> str:
        """Cancels ``owner``'s request; returns its status right after (``cancelled``, or
        the status it finished with). Raises :class:`NotFound`."""
        return await self._native.cancel(request_id, owner)

    async def evaluate(
        self,
        dataset: Union[str, "os.PathLike[str]", Sequence[Mapping[str, Any]]],
        *,
        models: Sequence[str],
        owner: str = "anonymous",
        judge: Optional[str] = None,
        concurrency: Optional[int] = None,
        repeat: Optional[int] = None,
        prompt_template: Optional[str] = None,
        allow_self_judge: bool = False,
        resume: Optional[str] = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """An evaluation run (as ``llm-compare eval``): every row of ``dataset`` — a JSONL or
        CSV file, or a list of rows (``{"prompt" | "messages", "id"?, "category"?,
        "expected"?, "vars"?, "assert"?}``) — compared across ``models``, each answer checked
        against the row's assertions, every pair judged in both orders by ``judge``. Yields
        ``{"type": "start", "run_id", …}``, one ``{"type": "row", …}`` per finished row, then
        ``{"type": "summary", …}``. With a store the run is recorded, and ``resume=run_id``
        continues it. Raises :class:`InvalidRequest` naming the file, line and field of a
        malformed row."""
        if isinstance(dataset, (str, os.PathLike)):
            name = os.fspath(dataset)
            with open(name, encoding="utf-8") as f:
                text = f.read()
        else:
            name = "rows.jsonl"
            text = "".join(json.dumps(dict(r)) + "\n" for r in dataset)
        options: dict[str, Any] = {"models": list(models), "allow_self_judge": allow_self_judge}
        for key, value in (("judge", judge), ("concurrency", concurrency), ("repeat", repeat)):
            if value is not None:
                options[key] = value
        stream = await self._native.evaluate(
            name, text, json.dumps(options), owner, prompt_template, resume
        )
        async for event in stream:
            yield json.loads(event)

    async def tool_results(
        self, request_id: str, results: Sequence[Mapping[str, Any]], *, owner: str
    ) -> int:
        """Answers calls of client-side tools (``client_tools=[...]`` in :meth:`submit`; each
        call is an ``action`` event): ``results`` are ``{"model_index", "call_id", "content",
        "is_error"?}``, as ``POST /v1/comparisons/{id}/tool_results`` takes them. All are
        delivered or none: raises :class:`Conflict` naming one whose call is not waiting
        (answered, timed out, never made), :class:`InvalidRequest` for a malformed one.
        Returns how many were delivered."""
        body = json.dumps({"results": [dict(r) for r in results]})
        answer = json.loads(await self._native.tool_results(request_id, owner, body))
        accepted: int = answer["accepted"]
        return accepted

    async def snapshot(self, request_id: str, *, owner: str) -> dict[str, Any]:
        """The request now, as ``GET /v1/comparisons/{id}``: status, every model's text so far
        and result, totals, the vote. From the store once the registry has let it go."""
        return _obj(await self._native.snapshot(request_id, owner))

    async def vote(
        self, request_id: str, winner: Union[int, str], *, owner: str, feedback: Optional[str] = None
    ) -> dict[str, Any]:
        """Records ``owner``'s vote on a finished comparison: ``winner`` is a ``model_index``,
        ``"tie"`` or ``"all_bad"``. Needs a store. Raises :class:`Conflict` (not finished, or
        voted already), :class:`InvalidRequest` (no such model), :class:`NotFound`."""
        vote: dict[str, Any] = {"winner": winner}
        if feedback is not None:
            vote["feedback"] = feedback
        return _obj(await self._native.vote(request_id, owner, json.dumps(vote)))

    async def leaderboard(
        self, *, since: Union[datetime, int, None] = None, until: Union[datetime, int, None] = None
    ) -> dict[str, Any]:
        """Every owner's votes as a ranking (``GET /v1/leaderboard``): Bradley-Terry rating
        with a 95% interval, Elo, wins/losses/ties, mean TTFT and cost per model; votes cast
        in ``[since, until)`` (datetimes or Unix ms). Needs a store."""
        return _obj(await self._native.leaderboard(_ms(since), _ms(until)))

    async def usage(
        self,
        *,
        owner: str,
        since: Union[datetime, int, None] = None,
        until: Union[datetime, int, None] = None,
        group_by: str = "model",
    ) -> dict[str, Any]:
        """``owner``'s calls, tokens and cost (``GET /v1/usage``) — comparisons and chat
        completions — per ``"model"`` or ``"day"``, in ``[since, until)`` (datetimes or Unix
        ms; default: the budget period, or the last 30 days), with the budget when one
        applies. Needs a store."""
        return _obj(await self._native.usage(owner, _usage_query(since, until, group_by)))

    def usage_sync(
        self,
        *,
        owner: str,
        since: Union[datetime, int, None] = None,
        until: Union[datetime, int, None] = None,
        group_by: str = "model",
    ) -> dict[str, Any]:
        """:meth:`usage`, blocking (for synchronous code)."""
        return _obj(self._native.usage_sync(owner, _usage_query(since, until, group_by)))

    async def comparisons(
        self, *, owner: str, limit: Optional[int] = None, before: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """``owner``'s comparisons outside sessions, newest first (``limit`` 1–100, default
        20; ``before``: the last id of the previous page). Needs a store."""
        return _list(await self._native.comparisons(owner, limit, before))

    async def create_session(
        self,
        models: Sequence[str],
        *,
        owner: str,
        title: Optional[str] = None,
        system: Optional[str] = None,
    ) -> dict[str, Any]:
        """Starts a session of ``models`` (fixed, like ``system``, for every turn); continue
        it with ``submit(prompt, session_id=..., owner=...)``: every model sees its own
        earlier answers. Needs a store."""
        body: dict[str, Any] = {"models": [models] if isinstance(models, str) else list(models)}
        if title is not None:
            body["title"] = title
        if system is not None:
            body["system"] = system
        return _obj(await self._native.create_session(json.dumps(body), owner))

    async def sessions(
        self, *, owner: str, limit: Optional[int] = None, before: Optional[str] = None
    ) -> list[dict[str, Any]]:
        """``owner``'s sessions, newest first (paged like :meth:`comparisons`)."""
        return _list(await self._native.sessions(owner, limit, before))

    async def session(self, session_id: str, *, owner: str) -> dict[str, Any]:
        """``owner``'s session with every turn: the prompt, each model's answer, the vote."""
        return _obj(await self._native.session(session_id, owner))

    async def delete_session(self, session_id: str, *, owner: str) -> None:
        """Deletes ``owner``'s session and its turns (running turns are cancelled first)."""
        await self._native.delete_session(session_id, owner)

    async def create_key(
        self,
        user: str,
        *,
        name: Optional[str] = None,
        admin: bool = False,
        models: Optional[Sequence[str]] = None,
        rpm: Optional[int] = None,
        max_active: Optional[int] = None,
        budget_usd: Optional[float] = None,
        period: Optional[str] = None,
        expires_at: Union[datetime, int, str, None] = None,
    ) -> dict[str, Any]:
        """Mints an API key for ``user`` (``POST /v1/keys``): ``models`` glob patterns it may
        use (``"openai/*"``), requests per minute, comparisons at once, a USD budget per
        ``period`` (``"day"``, ``"week"``, ``"month"``) held against the key alone, an expiry.
        The answer's ``key`` is the secret, shown this once; only its digest is stored.
        Needs a store."""
        body: dict[str, Any] = {"user": user, "admin": admin}
        for field, value in (
            ("name", name),
            ("rpm", rpm),
            ("max_active", max_active),
            ("budget_usd", budget_usd),
            ("period", period),
        ):
            if value is not None:
                body[field] = value
        if models is not None:
            body["models"] = [models] if isinstance(models, str) else list(models)
        if expires_at is not None:
            body["expires_at"] = _instant(expires_at)
        return _obj(await self._native.create_key(json.dumps(body)))

    async def keys(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> dict[str, Any]:
        """A page of keys, newest first (``{data, next_cursor}``; never a secret)."""
        return _obj(await self._native.keys(limit, cursor))

    async def key(self, key_id: str) -> dict[str, Any]:
        """Key ``key_id`` (never its secret)."""
        return _obj(await self._native.key(key_id))

    async def update_key(self, key_id: str, **changes: Any) -> dict[str, Any]:
        """Changes key ``key_id``: ``name``, ``models``, ``rpm``, ``max_active``,
        ``budget_usd``, ``period``, ``expires_at`` (``None`` clears a limit). Every server on
        the same database applies it within a second."""
        if "expires_at" in changes and changes["expires_at"] is not None:
            changes["expires_at"] = _instant(changes["expires_at"])
        return _obj(await self._native.update_key(key_id, json.dumps(changes)))

    async def revoke_key(self, key_id: str) -> dict[str, Any]:
        """Revokes key ``key_id``: refused within a second by every server on the database."""
        return _obj(await self._native.revoke_key(key_id))

    async def authenticate(self, secret: Optional[str]) -> dict[str, Any]:
        """Who presents ``secret`` — ``{user, kind, key, budget}`` — with the server's own
        checks (raises :class:`PermissionDenied` when it is missing, unknown, expired or
        revoked): how a FastAPI app in front of the engine accepts the same keys."""
        return _obj(await self._native.authenticate(secret))

    def active(self, owner: str) -> int:
        """How many of ``owner``'s requests are running."""
        return self._native.active(owner)

    def price(self, model: str) -> Optional[dict[str, Any]]:
        """``model``'s price in this engine (configured overrides applied), None if unpriced."""
        p = self._native.price_json(model)
        return None if p is None else dict(json.loads(p))

    def cost(self, model: str, usage: Mapping[str, int]) -> dict[str, Any]:
        """What ``usage`` (input_tokens, output_tokens, …) of ``model`` costs in this engine."""
        return dict(json.loads(self._native.cost_json(model, json.dumps(dict(usage)))))


def count_tokens(text: str, model: str) -> int:
    """Tokens in ``text`` for ``model`` (tiktoken: the model's encoding, else o200k_base)."""
    return _native.count_tokens(text, model)


def price(model: str) -> Optional[dict[str, Any]]:
    """``model``'s bundled price (USD per million tokens, limits), None if unpriced."""
    p = _native.price(model)
    return None if p is None else dict(json.loads(p))


def cost(model: str, usage: Mapping[str, int]) -> dict[str, Any]:
    """What ``usage`` costs at the bundled price: input_usd, output_usd, total_usd, priced."""
    return dict(json.loads(_native.cost(model, json.dumps(dict(usage)))))
