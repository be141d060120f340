import type { NextConfig } from 'next'
import { join } from 'node:path'

const config: NextConfig = {
  // A native addon: Node loads it at run time; the bundler must leave it alone.
  serverExternalPackages: ['llm-compare'],
  // `llm-compare` is linked from ../../bindings/node: let the bundler see the whole repository.
  turbopack: { root: join(__dirname, '..', '..') },
  outputFileTracingRoot: join(__dirname, '..', '..'),
}

export default config
