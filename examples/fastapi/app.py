"""A FastAPI app that embeds llm-compare: POST a comparison, stream it over SSE.

    POST /assistant/request {prompt, models?, system?, temperature?, max_tokens?}
         -> 201 {request_id, status}
    GET  /assistant/stream/{request_id}   (text/event-stream; Last-Event-ID resumes)

Bearer tokens come from ASSISTANT_TOKENS ("alice:token1,bob:token2"); 401 without one,
404 for an unknown (or another user's) request, 429 over the per-user limit of running
comparisons (ASSISTANT_MAX_ACTIVE, default 5). Run it with:

    uvicorn app:app --port 8000
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Optional

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from llm_compare import Engine, InvalidRequest, LlmCompareError, NotFound, RateLimited, sse_stream

engine = Engine(os.environ.get("LLM_COMPARE_CONFIG"), max_active_per_owner=int(os.environ.get("ASSISTANT_MAX_ACTIVE", "5")))
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
