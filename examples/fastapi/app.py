"""A FastAPI app that embeds llm-compare: POST a comparison, stream it over SSE.

    POST /assistant/request {prompt, models?, system?, temperature?, max_tokens?}
         -> 201 {request_id, status}
    GET  /assistant/stream/{request_id}   (text/event-stream; Last-Event-ID resumes)
    POST /assistant/preference/{request_id} {winner, feedback?}  -> 201 (the best answer)
    GET  /assistant/leaderboard

Bearer tokens come from ASSISTANT_TOKENS ("alice:token1,bob:token2"); 401 without one,
404 for an unknown (or another user's) request, 429 over the per-user limit of running
comparisons (ASSISTANT_MAX_ACTIVE, default 5), 409 for a second vote or one before the end.
Comparisons and votes are kept in ASSISTANT_STORE (a SQLite path or a postgres:// URL;
default assistant.db). Run it with:

    uvicorn app:app --port 8000
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Optional, Union

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from llm_compare import Conflict, Engine, InvalidRequest, LlmCompareError, NotFound, RateLimited, sse_stream

engine = Engine(
    os.environ.get("LLM_COMPARE_CONFIG"),
    store=os.environ.get("ASSISTANT_STORE", "assistant.db"),
    max_active_per_owner=int(os.environ.get("ASSISTANT_MAX_ACTIVE", "5")),
)
TOKENS = {
    token: user
    for user, _, token in (pair.strip().partition(":") for pair in os.environ.get("ASSISTANT_TOKENS", "").split(","))
    if user and token
}
DEFAULT_MODELS = ["sim/echo", "sim/lorem"]

app = FastAPI(title="assistant (llm-compare example)")


def current_user(authorization: Annotated[Optional[str], Header()] = None) -> str:
    token = (authorization or "").removeprefix("Bearer ").strip()
    user = TOKENS.get(token)
    if not user:
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return user


class AssistantRequest(BaseModel):
    prompt: str = Field(min_length=1)
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS), min_length=1, max_length=8)
    system: Optional[str] = None
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None


def error(status: int, e: LlmCompareError, headers: Optional[dict[str, str]] = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": e.code, "message": str(e), "field": e.field}}, status_code=status, headers=headers
    )


@app.post("/assistant/request", status_code=201)
async def create(body: AssistantRequest, user: str = Depends(current_user)) -> object:
    params: dict[str, Any] = {
        k: v for k, v in {"temperature": body.temperature, "max_tokens": body.max_tokens}.items() if v is not None
    }
    try:
        request_id = await engine.submit(body.prompt, models=body.models, system=body.system, owner=user, **params)
    except RateLimited as e:
        return error(429, e, {"Retry-After": "1"})
    except InvalidRequest as e:
        return error(400, e)
    return {"request_id": request_id, "status": "pending"}


@app.get("/assistant/stream/{request_id}")
async def stream(
    request_id: str,
    user: str = Depends(current_user),
    last_event_id: Annotated[Optional[str], Header()] = None,
) -> object:
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    try:
        events = await engine.stream(request_id, owner=user, after_seq=after)
    except NotFound as e:
        return error(404, e)
    return StreamingResponse(
        sse_stream(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class Preference(BaseModel):
    winner: Union[int, Literal["tie", "all_bad"]]
    feedback: Optional[str] = None


@app.post("/assistant/preference/{request_id}", status_code=201)
async def vote(request_id: str, body: Preference, user: str = Depends(current_user)) -> object:
    try:
        return await engine.vote(request_id, body.winner, owner=user, feedback=body.feedback)
    except NotFound as e:
        return error(404, e)
    except Conflict as e:
        return error(409, e)
    except InvalidRequest as e:
        return error(400, e)


@app.get("/assistant/leaderboard")
async def leaderboard(user: str = Depends(current_user)) -> object:
    return await engine.leaderboard()
