// Provides the native addon, run by `npm install` and `npm pack` (`prepare`):
// - in the source tree (a checkout of the llm-compare repository: src/ is here), builds it with
//   cargo, so the package needs only Rust, no prebuilt binary;
// - in an installed copy (a packed tarball carries the binary), or with a per-platform package
//   (llm-compare-<platform>-<arch>-<abi>, the napi-rs layout), there is nothing to build.
// LLM_COMPARE_NODE_PROFILE=dev reuses a workspace's debug build (tests); default: release.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(dirname(fileURLToPath(import.meta.url)))
const triple = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}`
const out = join(here, `llm-compare.${triple}.node`)
const profile = process.env.LLM_COMPARE_NODE_PROFILE || 'release'

if (process.env.LLM_COMPARE_NODE_SKIP_BUILD && existsSync(out)) process.exit(0)
if (!existsSync(join(here, 'src', 'lib.rs'))) {
  if (existsSync(out)) process.exit(0)
  try {
    createRequire(import.meta.url).resolve(`llm-compare-${triple}`)
    process.exit(0)
  } catch {
    console.error(`llm-compare: no native addon for ${triple} in this package and no sources to build it from`)
    process.exit(1)
  }
}
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
