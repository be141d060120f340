'use client'
// POSTs the prompt to /api/compare and reads the SSE answer (fetch, since EventSource cannot
// POST), one column per model, updated on every event.
import { useRef, useState, type FormEvent } from 'react'
import { EventSourceParserStream } from 'eventsource-parser/stream'
import type { ComparisonEvent, ModelResult, Stage } from 'llm-compare'

type Column = { model: string; text: string; stage: Stage; result?: ModelResult; error?: string }

const DEFAULT = ['sim/echo', 'sim/lorem', 'sim/slow']

export function Compare({ models }: { models: string[] }) {
  const [prompt, setPrompt] = useState('Explain **streaming** in one paragraph.')
  const [chosen, setChosen] = useState<string[]>(() => {
    const d = DEFAULT.filter((m) => models.includes(m))
    return d.length > 0 ? d : models.slice(0, 3)
  })
  const [columns, setColumns] = useState<Column[]>([])
  const [status, setStatus] = useState('')
  const [running, setRunning] = useState(false)
  const abort = useRef<AbortController | null>(null)

  function apply(e: ComparisonEvent) {
    setColumns((cols) => {
      const next = [...cols]
      const at = (i: number, patch: Partial<Column>) => (next[i] = { ...next[i], ...patch })
      switch (e.type) {
        case 'status':
          setStatus(e.status)
          break
        case 'stage':
          at(e.model_index, { stage: e.stage })
          break
        case 'response_chunk':
          at(e.model_index, { text: next[e.model_index].text + e.delta })
          break
        case 'error':
          if (e.model_index != null) at(e.model_index, { error: `${e.code}: ${e.message}` })
          else setStatus(`failed: ${e.message}`)
          break
        case 'model_result':
          at(e.model_index, { result: e, text: e.text })
          break
        case 'complete':
          setStatus(`${e.status} in ${(e.duration_ms / 1000).toFixed(2)} s · $${e.totals.cost_usd}`)
          break
      }
      return next
    })
  }

  async function run(ev: FormEvent) {
    ev.preventDefault()
    abort.current?.abort()
    const ac = new AbortController()
    abort.current = ac
    setColumns(chosen.map((model) => ({ model, text: '', stage: 'queued' })))
    setStatus('starting')
    setRunning(true)
    try {
      const res = await fetch('/api/compare', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, models: chosen }),
        signal: ac.signal,
      })
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => null)
        setStatus(`error ${res.status}: ${body?.error?.message ?? res.statusText}`)
        return
      }
      // A reader loop: not every browser can `for await` a ReadableStream yet.
      const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader()
      for (let r = await reader.read(); !r.done; r = await reader.read()) apply(JSON.parse(r.value.data) as ComparisonEvent)
    } catch (e) {
      if (!ac.signal.aborted) setStatus(`error: ${String(e)}`)
      else setStatus('stopped')
    } finally {
      setRunning(false)
    }
  }

  const toggle = (m: string) => setChosen((c) => (c.includes(m) ? c.filter((x) => x !== m) : [...c, m]))

  return (
    <>
      <form onSubmit={run}>
        <label htmlFor="prompt">Prompt</label>
        <textarea id="prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} rows={3} />
        <fieldset>
          <legend>Models</legend>
          {models.map((m) => (
            <label key={m} className="model">
              <input type="checkbox" checked={chosen.includes(m)} onChange={() => toggle(m)} /> {m}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={running || chosen.length === 0 || prompt.trim() === ''}>
          Compare
        </button>
        <button type="button" disabled={!running} onClick={() => abort.current?.abort()}>
          Stop
        </button>
        <output aria-live="polite">{status}</output>
      </form>
      <section className="columns" aria-label="Answers">
        {columns.map((c, i) => (
          <article key={i} data-model={c.model} data-stage={c.stage}>
            <h2>{c.model}</h2>
            <p className="meta">
              {c.stage}
              {c.result?.timing.ttft_ms != null && ` · TTFT ${Math.round(c.result.timing.ttft_ms)} ms`}
              {c.result && ` · ${c.result.usage.input_tokens} → ${c.result.usage.output_tokens} tokens`}
              {c.result?.cost.total_usd != null && ` · $${c.result.cost.total_usd}`}
            </p>
            <div className="text">{c.text}</div>
            {c.error && <p className="error">{c.error}</p>}
          </article>
        ))}
      </section>
    </>
  )
}
