// One engine per server process, shared by every request (comparisons run on the engine's
// own threads; route handlers only read events). Kept on globalThis so `next dev`'s module
// reloads do not start a second one.
import { Engine } from 'llm-compare'

const g = globalThis as typeof globalThis & { llmCompareEngine?: Engine }

/** The engine: `LLM_COMPARE_CONFIG` (a path to a TOML file, or TOML text) or the defaults —
 * the simulated models, plus each provider whose API key is in the environment. */
export function engine(): Engine {
  g.llmCompareEngine ??= new Engine(process.env.LLM_COMPARE_CONFIG || undefined)
  return g.llmCompareEngine
}
