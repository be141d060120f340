// GET /api/models → every configured model (id, provider, prices, available or why not).
import { engine } from '@/lib/engine'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(): Promise<Response> {
  return Response.json(await engine().models())
}
