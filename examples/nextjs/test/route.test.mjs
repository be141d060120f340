// The Next.js example, built (`next build`) and started (`next start`) on loopback: the route
// streams a comparison as SSE through the Node binding; bad input gets 400 naming the field;
// the client going away cancels the upstream call; the page lists the models.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { slowUpstream, until } from '../../../bindings/node/test/support.mjs'

const app = dirname(dirname(fileURLToPath(import.meta.url)))
let base
let server
let up

function freePort() {
  const s = createServer()
  return new Promise((r) =>
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => r(port))
    }),
  )
}

before(async () => {
  assert.ok(existsSync(join(app, '.next', 'BUILD_ID')), 'run `npx next build` in examples/nextjs first')
  up = await slowUpstream()
  const dir = mkdtempSync(join(tmpdir(), 'llm-compare-next-'))
  const config = join(dir, 'llm-compare.toml')
  writeFileSync(config, `[providers.slowup]\nkind = "openai"\nbase_url = "http://127.0.0.1:${up.port}/v1"\n`)
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const env = { ...process.env, LLM_COMPARE_CONFIG: config, LLM_COMPARE_SIM_TTFT_MS: '5', LLM_COMPARE_SIM_TOKENS_PER_S: '400', NEXT_TELEMETRY_DISABLED: '1' }
  for (const k of Object.keys(env)) if (k.endsWith('_API_KEY')) delete env[k]
  server = spawn(join(app, 'node_modules', '.bin', 'next'), ['start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: app,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  })
  await until(async () => {
    try {
      return (await fetch(`${base}/api/models`)).ok
    } catch {
      return false
    }
  }, 30000)
})

after(async () => {
  if (server) process.kill(-server.pid, 'SIGTERM')
  await up?.close()
})

function compare(body, signal) {
  return fetch(`${base}/api/compare`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  })
}

/** The SSE messages of a response, as the browser's EventSource would parse them. */
async function* messages(res) {
  yield* res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
}

test('the route streams a three-model comparison as SSE', async () => {
  const prompt = 'compare three models through a Next.js route'
  const res = await compare({ prompt, models: ['sim/echo', 'sim/lorem', 'sim/flaky'], params: { max_tokens: 12 } })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type'), /^text\/event-stream/)
  const events = []
  for await (const m of messages(res)) {
    const e = JSON.parse(m.data)
    assert.equal(m.event, e.type)
    assert.equal(m.id, String(e.seq))
    events.push(e)
  }
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
  )
  assert.equal(events[0].type, 'status')
  const complete = events.at(-1)
  assert.equal(complete.type, 'complete')
  assert.equal(complete.request_id, res.headers.get('x-request-id'))
  assert.equal(complete.results.length, 3)
  for (const r of complete.results) {
    const streamed = events
      .filter((e) => e.type === 'response_chunk' && e.model_index === r.model_index)
      .map((e) => e.delta)
      .join('')
    assert.equal(streamed, r.text, `model ${r.model}`)
  }
  assert.equal(complete.results[0].text, prompt)
  assert.equal(complete.results[1].usage.output_tokens, 12)
  assert.equal(complete.results[2].error.code, 'server')
  assert.ok(events.some((e) => e.type === 'error' && e.model_index === 2 && e.code === 'server'))
})

test('bad input gets 400 naming the field', async () => {
  const cases = [
    ['{not json', 'body'],
    [{ prompt: 'x' }, 'models'],
    [{ prompt: 'x', models: ['nope/x'] }, 'models'],
    [{ prompt: 'x', models: ['sim/echo'], params: { temperature: 9 } }, 'params.temperature'],
    [{ prompt: '', models: ['sim/echo'] }, 'prompt'],
  ]
  for (const [body, field] of cases) {
    const res = await compare(body)
    assert.equal(res.status, 400, JSON.stringify(body))
    const json = await res.json()
    assert.equal(json.error.field, field, JSON.stringify(json))
    assert.ok(json.error.message.length > 0)
  }
})

test('the client going away cancels the upstream call', async (t) => {
  const ac = new AbortController()
  const res = await compare({ prompt: 'go slowly', models: ['slowup/m', 'sim/lorem'] }, ac.signal)
  const reader = res.body.getReader()
  let text = ''
  while (!/event: response_chunk\ndata: \{[^\n]*"model_index":0/.test(text)) {
    text += new TextDecoder().decode((await reader.read()).value)
  }
  assert.equal(up.state.open, 1)
  const t0 = Date.now()
  ac.abort()
  await until(() => up.state.open === 0, 5000)
  const ms = up.state.closedAt - t0
  t.diagnostic(`upstream connection closed ${ms} ms after the client left`)
  assert.ok(ms < 1000, `upstream closed ${ms} ms after the client left`)
})

test('the page lists the models to compare', async () => {
  const res = await fetch(base)
  assert.equal(res.status, 200)
  const html = await res.text()
  for (const m of ['sim/echo', 'sim/lorem', 'sim/slow']) assert.ok(html.includes(m), m)
  assert.match(html, /<textarea id="prompt"/)
})
