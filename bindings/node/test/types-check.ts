// Compiled by `tsc -p test` (scripts/node-test), never run: the declarations must accept
// what the README shows, narrow events by `type`, and reject misuse (@ts-expect-error lines
// fail the check if they ever compile).
import {
  Engine,
  InvalidRequestError,
  LlmCompareError,
  errorOf,
  countTokens,
  type ComparisonEvent,
  type Complete,
  type EventOf,
} from 'llm-compare'

async function main(): Promise<void> {
  const engine = new Engine({ sim: { ttft_ms: 10 } }, { store: 'x.db' })
  const ac = new AbortController()
  const comparison = engine.compare({
    prompt: 'hi',
    models: ['sim/echo', 'sim/lorem'],
    params: { temperature: 0.2, max_tokens: 64 },
    signal: ac.signal,
  })
  const text: string[] = []
  for await (const e of comparison) {
    switch (e.type) {
      case 'response_chunk':
        text[e.model_index] = (text[e.model_index] ?? '') + e.delta
        break
      case 'error': {
        const err: LlmCompareError | null = errorOf(e)
        const code: string = e.code
        void err
        void code
        break
      }
      case 'complete': {
        const ttft: number | null = e.results[0].timing.ttft_ms
        const cost: number = e.totals.cost_usd
        void ttft
        void cost
        break
      }
    }
  }
  const done: Complete = await comparison.result()
  void done.results.map((r) => r.usage.output_tokens)
  const body: ReadableStream<Uint8Array> = comparison.toSSEStream({ keepAliveMs: 0 })
  void new Response(body, { headers: { 'content-type': 'text/event-stream' } })

  const chunk: EventOf<'response_chunk'> = {
    seq: 2,
    type: 'response_chunk',
    model_index: 0,
    model: 'sim/echo',
    delta: 'x',
  }
  const any: ComparisonEvent = chunk
  void any

  const id = await engine.submit({ prompt: 'hi', models: 'sim/echo', owner: 'u1' })
  for await (const e of await engine.stream(id, { owner: 'u1', afterSeq: 3 })) void e.seq
  const snap = await engine.snapshot(id, { owner: 'u1' })
  const status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted' =
    snap.status
  void status
  await engine.vote(id, 'tie', { owner: 'u1' })
  await engine.vote(id, 1, { owner: 'u1', feedback: 'better' })
  const board = await engine.leaderboard({ since: new Date(0), until: Date.now() })
  void board.models.map((m) => [m.rank, m.rating, m.wins])
  const s = await engine.createSession({ owner: 'u1', models: ['sim/echo'], title: 't' })
  void (await engine.session(s.id, { owner: 'u1' })).turns.length
  void (await engine.models()).filter((m) => m.available).map((m) => m.id)
  void engine.cost('openai/gpt-4o', { input_tokens: 10, output_tokens: 5 }).total_usd
  void countTokens('hello', 'openai/gpt-4o')

  try {
    engine.compare({ prompt: 'hi', models: [] })
  } catch (e) {
    if (e instanceof InvalidRequestError) void e.field
  }

  // @ts-expect-error models are required
  engine.compare({ prompt: 'hi' })
  // @ts-expect-error submit needs an owner
  void engine.submit({ prompt: 'hi', models: 'sim/echo' })
  // @ts-expect-error a vote is a model_index, 'tie' or 'all_bad'
  void engine.vote(id, 'best', { owner: 'u1' })
  for await (const e of comparison) {
    // @ts-expect-error `delta` only exists on chunk events
    void e.delta
  }
}

void main
