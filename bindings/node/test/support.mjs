// Test helpers shared by the binding's tests and the Next.js example's.
import { createServer } from 'node:http'

/** An OpenAI-compatible upstream on loopback that streams a word every 50 ms and records
 * when clients go away (`state.open`, `state.closedAt`); `port` for a TOML configuration,
 * `config` as an Engine configuration object (provider `slowup`). */
export async function slowUpstream() {
  const state = { open: 0, requests: 0, closedAt: 0 }
  const server = createServer((req, res) => {
    state.requests++
    state.open++
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    let i = 0
    const timer = setInterval(() => {
      res.write(`data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"w${i++} "}}]}\n\n`)
    }, 50)
    res.on('close', () => {
      clearInterval(timer)
      state.open--
      state.closedAt = Date.now()
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  const config = { providers: { slowup: { kind: 'openai', base_url: `http://127.0.0.1:${port}/v1` } } }
  return { state, port, config, close: () => new Promise((r) => server.close(r)) }
}

/** Waits until `cond()` (which may be async) is true, polling every few ms. */
export async function until(cond, ms = 5000) {
  const t0 = Date.now()
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}
