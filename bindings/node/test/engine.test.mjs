// The Node binding against the Rust engine: the event schema, equality with the engine's own
// CLI output, AbortSignal and stream cancellation reaching the upstream, errors by code,
// 50 concurrent comparisons in one process, SSE bytes, stores.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { slowUpstream, until } from './support.mjs'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..')
for (const k of Object.keys(process.env)) if (k.endsWith('_API_KEY')) delete process.env[k]
Object.assign(process.env, {
  LLM_COMPARE_SIM_TTFT_MS: '5',
  LLM_COMPARE_SIM_SLOW_TTFT_MS: '30000',
  LLM_COMPARE_SIM_TOKENS_PER_S: '400',
})
process.chdir(here) // no stray llm-compare.toml
const lc = require('..')
const { Engine } = lc

const THREE = ['sim/echo', 'sim/lorem', 'sim/flaky']
const PROMPT = 'compare these three models on one prompt please'

async function collect(iterable) {
  const out = []
  for await (const e of iterable) out.push(e)
  return out
}

/** Each model's events without what legitimately differs between runs. */
function perModel(events) {
  const out = {}
  for (const raw of events) {
    const e = structuredClone(raw)
    delete e.seq
    delete e.duration_ms
    for (const r of [e, ...(e.results ?? [])]) {
      delete r.timing
      delete r.request_id
    }
    ;(out[e.model_index ?? 'request'] ??= []).push(e)
  }
  return out
}

test('three sim models stream one schema', async () => {
  const events = await collect(new Engine().compare({ prompt: PROMPT, models: THREE, params: { max_tokens: 12 } }))
  assert.equal(events[0].type, 'status')
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
  )
  assert.equal(events.at(-1).type, 'complete')
  const text = events
    .filter((e) => e.type === 'response_chunk' && e.model_index === 0)
    .map((e) => e.delta)
    .join('')
  assert.equal(text, PROMPT)
  const results = Object.fromEntries(events.filter((e) => e.type === 'model_result').map((e) => [e.model_index, e]))
  assert.equal(results[1].usage.output_tokens, 12)
  assert.equal(results[2].error.code, 'server')
  assert.ok(lc.errorOf(results[2]) instanceof lc.ProviderError)
})

test("events equal the Rust engine's for the same request", async () => {
  const bin = process.env.LLM_COMPARE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'llm-compare')
  assert.ok(existsSync(bin), `${bin} is missing: build it with \`cargo build -p llm-compare-http\` (or set LLM_COMPARE_BIN)`)
  const args = ['run', '--json', '--max-tokens', '12', ...THREE.flatMap((m) => ['-m', m]), PROMPT]
  // Exits non-zero when a model failed (sim/flaky does): the events are still all there.
  const rust = spawnSync(bin, args, { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
  const node = await collect(new Engine().compare({ prompt: PROMPT, models: THREE, params: { max_tokens: 12 } }))
  assert.equal(node.length, rust.length)
  assert.deepEqual(perModel(node), perModel(rust))
})

test('an AbortSignal cancels the upstream call', async () => {
  const up = await slowUpstream()
  try {
    const engine = new Engine(up.config)
    const ac = new AbortController()
    const comparison = engine.compare({ prompt: 'go slowly', models: ['slowup/m', 'sim/lorem'], signal: ac.signal })
    const got = []
    const done = (async () => {
      for await (const e of comparison) got.push(e)
    })()
    await until(() => got.some((e) => e.type === 'response_chunk' && e.model_index === 0))
    assert.equal(up.state.open, 1)
    const t0 = Date.now()
    ac.abort()
    await done
    await until(() => up.state.open === 0)
    assert.ok(up.state.closedAt - t0 < 1000, `upstream closed ${up.state.closedAt - t0} ms after abort`)
    assert.equal(got.at(-1).type, 'complete')
    assert.equal(got.at(-1).status, 'cancelled')
  } finally {
    await up.close()
  }
})

test('a cancelled SSE stream (client gone) cancels the upstream call', async () => {
  const up = await slowUpstream()
  try {
    const engine = new Engine(up.config)
    const reader = engine.compare({ prompt: 'go slowly', models: ['slowup/m'] }).toSSEStream().getReader()
    let text = ''
    while (!text.includes('event: response_chunk')) text += new TextDecoder().decode((await reader.read()).value)
    assert.match(text, /^id: 1\nevent: status\ndata: \{/)
    assert.equal(up.state.open, 1)
    await reader.cancel()
    await until(() => up.state.open === 0)
  } finally {
    await up.close()
  }
})

test('errors are Error subclasses with a code', async () => {
  const engine = new Engine()
  assert.throws(() => engine.compare({ prompt: 'x', models: ['nope/x'] }), (e) => {
    assert.ok(e instanceof lc.UnknownModelError && e instanceof lc.InvalidRequestError && e instanceof Error)
    assert.equal(e.status, 400)
    assert.deepEqual(JSON.parse(JSON.stringify(e)).error.code, 'unknown_model')
    return e.code === 'unknown_model'
  })
  assert.throws(
    () => engine.compare({ prompt: 'x', models: ['sim/echo'], params: { temperature: 9 } }),
    (e) =>
      e instanceof lc.InvalidRequestError &&
      e.code === 'invalid_request' &&
      e.field === 'params.temperature' &&
      JSON.stringify(e) === JSON.stringify({ error: { code: 'invalid_request', message: e.message, field: 'params.temperature' } }),
  )
  await assert.rejects(engine.stream('01900000-0000-7000-8000-000000000000', { owner: 'a' }), (e) => e instanceof lc.NotFoundError && e.code === 'not_found' && e.status === 404)
  const limited = new Engine(undefined, { maxActivePerOwner: 1 })
  const id = await limited.submit({ prompt: 'x', models: ['sim/slow'], owner: 'alice' })
  await assert.rejects(limited.submit({ prompt: 'x', models: ['sim/slow'], owner: 'alice' }), (e) => e instanceof lc.RateLimitedError && e.code === 'rate_limited' && e.retryable && e.status === 429)
  await limited.submit({ prompt: 'x', models: ['sim/echo'], owner: 'bob' })
  assert.equal(await limited.cancel(id, { owner: 'alice' }), 'cancelled')
  assert.throws(() => new Engine('[providers.x]\nkind = 3\n'), (e) => e instanceof lc.InvalidRequestError)
})

test('50 concurrent comparisons in one process, the event loop stays free', async () => {
  const engine = new Engine()
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const t0 = Date.now()
  const all = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      collect(engine.compare({ prompt: `request number ${i}`, models: ['sim/echo', 'sim/lorem', 'sim/echo', 'sim/lorem'], params: { max_tokens: 20 } })),
    ),
  )
  clearInterval(timer)
  const elapsed = Date.now() - t0
  all.forEach((events, i) => {
    assert.equal(events.at(-1).type, 'complete')
    assert.equal(events.at(-1).results[0].text, `request number ${i}`)
  })
  // The timer kept firing while Rust worked (a blocked loop would give ~0 ticks): at least a
  // tick per 50 ms of wall time, loose enough for a loaded machine.
  assert.ok(ticks >= elapsed / 50, `${ticks} ticks in ${elapsed} ms`)
})

test('POST-then-stream: submit, stream, resume after a seq', async () => {
  const engine = new Engine()
  const id = await engine.submit({ prompt: 'one two three four', models: ['sim/echo', 'sim/lorem'], owner: 'alice', metadata: { t: 1 } })
  const events = await collect(await engine.stream(id, { owner: 'alice' }))
  assert.equal(events.at(-1).type, 'complete')
  const rest = await collect(await engine.stream(id, { owner: 'alice', afterSeq: 4 }))
  assert.deepEqual(rest, events.slice(4))
  await assert.rejects(engine.stream(id, { owner: 'mallory' }), lc.NotFoundError)
})

test('sessions, votes and the leaderboard with a store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-compare-node-'))
  const engine = new Engine(undefined, { store: join(dir, 'db.sqlite') })
  assert.equal(engine.hasStore, true)
  const s = await engine.createSession({ models: ['sim/echo', 'sim/lorem'], owner: 'alice', title: 'trip' })
  const first = await engine.submitInfo({ prompt: 'where to', owner: 'alice', sessionId: s.id, params: { max_tokens: 4 } })
  assert.deepEqual(first.history_trimmed, [0, 0])
  const one = await collect(await engine.stream(first.request_id, { owner: 'alice' }))
  const second = await engine.submit({ prompt: 'where to', owner: 'alice', sessionId: s.id, params: { max_tokens: 4 } })
  const two = await collect(await engine.stream(second, { owner: 'alice' }))
  assert.ok(two.at(-1).results[0].usage.input_tokens > one.at(-1).results[0].usage.input_tokens)
  const detail = await engine.session(s.id, { owner: 'alice' })
  assert.deepEqual(
    detail.turns.map((t) => t.prompt),
    ['where to', 'where to'],
  )
  assert.deepEqual(await engine.vote(second, 1, { owner: 'alice', feedback: 'richer' }), { winner: 1, feedback: 'richer' })
  await assert.rejects(engine.vote(second, 0, { owner: 'alice' }), lc.ConflictError)
  const board = await engine.leaderboard()
  assert.equal(board.votes, 1)
  assert.equal(board.models[0].model, 'sim/lorem')
  await engine.deleteSession(s.id, { owner: 'alice' })
  await assert.rejects(engine.session(s.id, { owner: 'alice' }), lc.NotFoundError)
  const usage = await engine.usage({ owner: 'alice' })
  assert.ok(usage.total.calls >= 2, JSON.stringify(usage))
  assert.ok(usage.rows.some((r) => r.model === 'sim/lorem'), JSON.stringify(usage))
  assert.equal((await engine.usage({ owner: 'alice', groupBy: 'day' })).group_by, 'day')
  await assert.rejects(engine.usage({ owner: 'alice', since: 10, until: 5 }), (e) => e instanceof lc.InvalidRequestError && e.field === 'to')
  await assert.rejects(new Engine().usage({ owner: 'a' }), lc.NotConfiguredError)
  await assert.rejects(new Engine().leaderboard(), (e) => e instanceof lc.NotConfiguredError && e.code === 'not_configured' && e.status === 501)
})

test('every error code has its class, generated from the core', () => {
  const { CODES, CLASSES } = require('../errors.js')
  assert.ok(Object.keys(CODES).length >= 24)
  for (const [name] of CLASSES) assert.equal(typeof lc[name], 'function', name)
  for (const [code, name] of Object.entries(CODES)) {
    const e = lc.errorOf({ type: 'error', code, message: 'm', retryable: false })
    assert.ok(e instanceof lc[name] && e instanceof lc.LlmCompareError && e instanceof Error, code)
    assert.equal(e.name, name)
  }
  assert.ok(lc.errorOf({ type: 'error', code: 'unavailable', message: 'db down', retryable: true }) instanceof lc.UnavailableError)
  assert.ok(lc.errorOf({ type: 'error', code: 'timeout', message: 't', retryable: true }) instanceof lc.ProviderError)
})

test('utilities', () => {
  assert.ok(lc.countTokens('hello world', 'openai/gpt-4o') >= 2)
  assert.equal(lc.price('nope/x'), null)
  assert.equal(lc.cost('nope/x', { input_tokens: 10, output_tokens: 5 }).priced, false)
  const p = lc.price('openai/gpt-4o-mini')
  assert.ok(p.input_usd_per_million > 0)
  const c = lc.cost('openai/gpt-4o-mini', { input_tokens: 1_000_000, output_tokens: 0 })
  assert.ok(c.priced && Math.abs(c.total_usd - p.input_usd_per_million) < 1e-9)
  assert.deepEqual(new Engine({ prices: { 'sim/echo': { input: 1, output: 2 } } }).price('sim/echo').input_usd_per_million, 1)
})

test('API keys: minted, checked like the server checks them, revoked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-compare-node-keys-'))
  const engine = new Engine(undefined, { store: join(dir, 'db.sqlite') })
  // An open engine (no key anywhere): every caller is anonymous.
  assert.equal((await engine.authenticate(null)).user, 'anonymous')
  const created = await engine.createKey({ user: 'nina', models: ['sim/*'], rpm: 5, budgetUsd: 2, period: 'week' })
  assert.match(created.key, /^lcsk_/)
  assert.equal(created.prefix, created.key.slice(0, 13))
  const me = await engine.authenticate(created.key)
  assert.equal(me.user, 'nina')
  assert.equal(me.kind, 'stored')
  assert.deepEqual(me.key.models, ['sim/*'])
  assert.equal(me.budget.period, 'week')
  assert.equal('key' in me.key, false)
  const changed = await engine.updateKey(created.id, { rpm: null, name: 'edge' })
  assert.equal(changed.rpm, null)
  assert.equal((await engine.key(created.id)).name, 'edge')
  assert.ok((await engine.keys({ limit: 10 })).data.some((k) => k.id === created.id))
  await assert.rejects(engine.createKey({ user: 'x', budgetUsd: -1 }), (e) => e instanceof lc.InvalidRequestError && e.field === 'budget_usd')
  await assert.rejects(engine.revokeKey('key_nope'), lc.NotFoundError)
  assert.equal((await engine.revokeKey(created.id)).status, 'revoked')
  // Revoking the last key does not open the engine again.
  await assert.rejects(engine.authenticate(created.key), (e) => e instanceof lc.PermissionDeniedError && e.code === 'unauthorized' && /revoked/.test(e.message))
  await assert.rejects(engine.authenticate(null), lc.PermissionDeniedError)
})

test('attachments and structured output', async () => {
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')
  const pic = lc.image(png)
  assert.equal(pic.type, 'image')
  assert.equal(pic.media_type, 'image/png')
  const dir = mkdtempSync(join(tmpdir(), 'llm-compare-node-parts-'))
  const notes = join(dir, 'notes.txt')
  require('node:fs').writeFileSync(notes, 'some notes')
  assert.deepEqual(
    { type: lc.file(notes).type, media_type: lc.file(notes).media_type, name: lc.file(notes).name },
    { type: 'file', media_type: 'text/plain', name: 'notes.txt' },
  )
  assert.deepEqual(lc.attachment('https://example.com/cat.jpg'), { type: 'image', url: 'https://example.com/cat.jpg' })
  assert.throws(() => lc.image(notes), lc.InvalidRequestError)
  assert.throws(() => lc.attachment(Buffer.from([0xff, 0xfe, 0])), (e) => e instanceof lc.InvalidRequestError && e.field === 'attachment')
  const engine = new Engine()
  const events = await collect(engine.compare({
    prompt: '{"ok": true}',
    models: ['sim/echo', 'sim/lorem'],
    attachments: [pic, lc.file(notes)],
    responseFormat: { type: 'json_object' },
  }))
  const results = events.filter((e) => e.type === 'model_result')
  assert.deepEqual(results.find((r) => r.model_index === 0).structured, { valid: true })
  assert.equal(results.find((r) => r.model_index === 1).structured.valid, false)
})

test('JavaScript functions as tools: each model runs its own loop; a throw is an error result', async () => {
  const engine = new Engine()
  const calls = []
  const square = {
    name: 'square',
    description: 'Squares a number',
    parameters: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] },
    execute: async ({ x }) => {
      calls.push(x)
      await new Promise((r) => setTimeout(r, 5))
      return { square: x * x }
    },
  }
  const events = await collect(engine.compare({ prompt: 'square 12', models: ['sim/agent', 'sim/agent', 'sim/echo'], tools: [square] }))
  assert.deepEqual(calls, [12, 12])
  const results = events.filter((e) => e.type === 'tool_result')
  assert.deepEqual(results.map((r) => r.content), ['{"square":144}', '{"square":144}'])
  const done = events.at(-1)
  assert.equal(done.results[0].text, '`square` returned: {"square":144}')
  assert.equal(done.results[0].steps, 2)
  assert.equal(done.results[2].text, 'square 12')

  // Shared mode: one execution for both models.
  calls.length = 0
  await collect(engine.compare({ prompt: 'square 3', models: ['sim/agent', 'sim/agent'], tools: [square], toolMode: 'shared' }))
  assert.deepEqual(calls, [3])

  const failing = { name: 'lookup', description: 'Looks up', parameters: { type: 'object' }, execute: () => { throw new TypeError('no such key') } }
  const evs = await collect(engine.compare({ prompt: 'find', models: ['sim/agent'], tools: [failing], maxSteps: 2 }))
  const r = evs.find((e) => e.type === 'tool_result')
  assert.equal(r.is_error, true)
  assert.equal(r.content, 'TypeError: no such key')
  assert.equal(evs.at(-1).status, 'completed')
})

test('submitted comparisons run JavaScript tools too', async () => {
  const engine = new Engine()
  const double = { name: 'double', description: 'Doubles', parameters: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] }, execute: ({ x }) => String(2 * x) }
  const id = await engine.submit({ owner: 'ann', prompt: 'double 21', models: ['sim/agent'], tools: [double] })
  const events = await collect(await engine.stream(id, { owner: 'ann' }))
  assert.equal(events.find((e) => e.type === 'tool_result').content, '42')
})

test('client-side tools: each call is an action, answered with toolResults (all or none)', async () => {
  const engine = new Engine()
  const lookup = { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] } } }
  const id = await engine.submit({ owner: 'ann', prompt: 'tea', models: ['sim/agent'], clientTools: [lookup], toolTimeoutS: 30 })
  const events = []
  for await (const e of await engine.stream(id, { owner: 'ann' })) {
    events.push(e)
    if (e.type === 'action') {
      assert.deepEqual(e.arguments, { word: 'tea' })
      const answer = { model_index: e.model_index, call_id: e.call_id, content: 'a drink' }
      await assert.rejects(
        engine.toolResults(id, [answer, { ...answer, call_id: 'nope' }], { owner: 'ann' }),
        (err) => err instanceof lc.ConflictError && /results\[1\]/.test(err.message),
      )
      assert.equal(await engine.toolResults(id, [answer], { owner: 'ann' }), 1)
    }
  }
  assert.equal(events.filter((e) => e.type === 'action').length, 1)
  assert.equal(events.at(-1).results[0].text, '`lookup` returned: a drink')
})

test("cancelling the comparison aborts a JavaScript tool's signal", async () => {
  const engine = new Engine()
  let started
  const running = new Promise((r) => { started = r })
  let aborted = false
  const slow = {
    name: 'slow',
    description: 'Takes its time',
    parameters: { type: 'object' },
    execute: (_args, { signal }) => new Promise((resolve) => {
      started()
      const timer = setTimeout(() => resolve('late'), 30000)
      signal.addEventListener('abort', () => { aborted = true; clearTimeout(timer); resolve('aborted') })
    }),
  }
  const controller = new AbortController()
  const comparison = engine.compare({ prompt: 'go', models: ['sim/agent'], tools: [slow], signal: controller.signal })
  const done = collect(comparison)
  await running
  controller.abort()
  const events = await done
  assert.equal(events.at(-1).status, 'cancelled')
  await until(() => aborted, 5000)
  assert.equal(aborted, true)
})

test('evaluate: rows across models, checked, judged; a bad row names its line and field', async () => {
  const engine = new Engine()
  const rows = [0, 1, 2, 3].map((i) => ({ id: `r${i}`, prompt: `the sky is blue ${i}`, assert: [{ type: 'contains', value: 'sky' }] }))
  const events = []
  for await (const e of engine.evaluate(rows, { models: ['sim/echo', 'sim/lorem'], judge: 'sim/judge' })) events.push(e)
  assert.equal(events[0].type, 'start')
  assert.equal(events[0].units, 4)
  assert.deepEqual(events.slice(1, -1).map((e) => e.row_id).sort(), ['r0', 'r1', 'r2', 'r3'])
  const summary = events.at(-1)
  assert.equal(summary.type, 'summary')
  assert.equal(summary.models[0].pass_rate, 1)
  assert.equal(summary.models[0].judge_rating, 1)
  await assert.rejects(
    (async () => { for await (const _ of engine.evaluate([{ promt: 'x' }], { models: ['sim/echo'] })) { /* nothing */ } })(),
    (err) => err instanceof lc.InvalidRequestError && /line 1: `promt`/.test(err.message),
  )
})
