// The page: the models come from the engine on the server; the comparison runs in the
// browser against /api/compare (see compare.tsx).
import { engine } from '@/lib/engine'
import { Compare } from './compare'

export const dynamic = 'force-dynamic'

export default async function Page() {
  const models = (await engine().models()).filter((m) => m.available).map((m) => m.id)
  return (
    <main>
      <h1>llm-compare</h1>
      <p className="lead">One prompt, several models, side by side as they stream (Next.js + the llm-compare Node binding).</p>
      <Compare models={models} />
    </main>
  )
}
