// POST /api/compare {prompt, models, system?, params?} → the comparison's events as SSE, the
// same bytes `llm-compare serve` sends. The client going away cancels the upstream calls.
import { LlmCompareError } from 'llm-compare'
import { engine } from '@/lib/engine'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

function badRequest(field: string, message: string): Response {
  return Response.json({ error: { code: 'invalid_request', message, field } }, { status: 400 })
}

export async function POST(req: Request): Promise<Response> {
  let body: unknown
  try {
    body = await req.json()
  } catch {
    return badRequest('body', 'the body must be JSON: {"prompt": "…", "models": ["sim/echo", …]}')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return badRequest('body', 'the body must be a JSON object')
  }
  const { prompt, models, system, params } = body as Record<string, unknown>
  if (typeof prompt !== 'string') return badRequest('prompt', 'prompt must be a string')
  if (!Array.isArray(models) || !models.every((m) => typeof m === 'string')) {
    return badRequest('models', 'models must be an array of model ids')
  }
  if (system !== undefined && typeof system !== 'string') return badRequest('system', 'system must be a string')
  if (params !== undefined && (typeof params !== 'object' || params === null)) {
    return badRequest('params', 'params must be an object')
  }
  try {
    const comparison = engine().compare({
      prompt,
      models,
      system,
      params: params as Record<string, number> | undefined,
      signal: req.signal,
    })
    return new Response(comparison.toSSEStream(), {
      headers: {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        'x-request-id': comparison.requestId,
      },
    })
  } catch (e) {
    // Invalid requests and unknown models fail here, before anything streams.
    if (e instanceof LlmCompareError) return Response.json(e, { status: e.status ?? 500 })
    throw e
  }
}
