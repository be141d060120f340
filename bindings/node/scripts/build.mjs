// Builds the native addon from source with cargo (run by `npm install`): the package needs
// only Rust, no prebuilt binary. A per-platform package (llm-compare-<platform>-<arch>-<abi>,
// the napi-rs layout) or an existing build is used when present.
// LLM_COMPARE_NODE_PROFILE=dev reuses a workspace's debug build (tests); default: release.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(dirname(fileURLToPath(import.meta.url)))
const triple = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}`
const out = join(here, `llm-compare.${triple}.node`)
const profile = process.env.LLM_COMPARE_NODE_PROFILE || 'release'

if (process.env.LLM_COMPARE_NODE_SKIP_BUILD && existsSync(out)) process.exit(0)
try {
  execFileSync('cargo', ['--version'], { stdio: 'ignore' })
} catch {
  console.error('llm-compare: building the native addon needs Rust (https://rustup.rs): cargo was not found')
  process.exit(1)
}
const metadata = JSON.parse(
  execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps', '--manifest-path', join(here, 'Cargo.toml')], {
    encoding: 'utf8',
  }),
)
execFileSync(
  'cargo',
  ['build', '--locked', '--profile', profile, '-p', 'llm-compare-node', '--manifest-path', join(here, 'Cargo.toml')],
  { stdio: 'inherit' },
)
const dir = join(metadata.target_directory, profile === 'dev' ? 'debug' : profile)
const lib = { linux: 'libllm_compare_node.so', darwin: 'libllm_compare_node.dylib', win32: 'llm_compare_node.dll' }[
  process.platform
]
copyFileSync(join(dir, lib), out)
console.error(`llm-compare: built ${out}`)
