#!/usr/bin/env bash
# `npm run test:pack`: packs parallel-evm as `npm publish` would (the main package, and the
# platform package of this machine holding the binary `npm run build` made), installs both
# tarballs into a scratch project as a user's `npm install parallel-evm` would, and runs
# `smoke.mjs` (the installed package, its addon, a block on worker threads against ethereumjs)
# and `tsc` over a consumer's TypeScript there. Needs a build (`npm install` or `npm run build`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

shopt -s nullglob
built=(binding/parallel-evm.*.node)
if [ "${#built[@]}" -ne 1 ]; then
  echo "test:pack: expected exactly one binding/parallel-evm.<platform>.node, found ${#built[@]}; run npm run build" >&2
  exit 1
fi
platform="${built[0]#binding/parallel-evm.}"
platform="${platform%.node}"
if [ ! -f "npm/$platform/package.json" ]; then
  echo "test:pack: no npm/$platform/package.json: $platform is not in napi.targets" >&2
  exit 1
fi

work="$(mktemp -d)"
cleanup() {
  rm -f "npm/$platform/parallel-evm.$platform.node"
  rm -rf "$work"
}
trap cleanup EXIT

# --ignore-scripts: pack the build that is here (`prepare` would rebuild it first).
npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null
cp "${built[0]}" "npm/$platform/"
(cd "npm/$platform" && npm pack --silent --pack-destination "$work" >/dev/null)

main_tgz=("$work"/parallel-evm-[0-9]*.tgz)
platform_tgz=("$work"/parallel-evm-"$platform"-[0-9]*.tgz)
echo "packed: $(basename "${main_tgz[0]}") ($(du -k "${main_tgz[0]}" | cut -f1) KB), $(basename "${platform_tgz[0]}") ($(du -k "${platform_tgz[0]}" | cut -f1) KB)"

# What the main package ships: the compiled façade and the loader, no native binary (that
# comes from the platform package), no TypeScript sources, tests or benchmarks.
listing="$(tar -tzf "${main_tgz[0]}")"
for want in package/dist/index.js package/dist/index.d.ts package/dist/pool/worker.js package/dist/evm/runner.js package/binding/index.cjs package/README.md package/LICENSE; do
  grep -qx "$want" <<<"$listing" || { echo "test:pack: the tarball lacks $want" >&2; exit 1; }
done
if grep -E '\.node$|^package/(ts|__test__|bench|crate)/' <<<"$listing"; then
  echo "test:pack: the tarball ships files it should not (above)" >&2
  exit 1
fi

consumer="$work/consumer"
mkdir "$consumer"
cp scripts/pack/smoke.mjs scripts/pack/consumer.mts scripts/pack/tsconfig.json "$consumer/"
cd "$consumer"
echo '{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module" }' >package.json
# The dependencies come from npm's cache where `npm install` in the checkout left them.
npm install --silent --prefer-offline --no-audit --no-fund "${main_tgz[0]}" "${platform_tgz[0]}"
npm install --silent --prefer-offline --no-audit --no-fund --save-dev "typescript@$(node -p "require('$root/node_modules/typescript/package.json').version")" "@types/node@$(node -p "require('$root/node_modules/@types/node/package.json').version")"
if [ -e node_modules/parallel-evm/binding/parallel-evm."$platform".node ]; then
  echo "test:pack: the installed package has its own .node file; the platform package is not what loads" >&2
  exit 1
fi

node smoke.mjs
# CommonJS: `require` of an ES module works where Node supports it (20.19+, 22.12+).
if [ "$(node -p 'process.features.require_module === true')" = true ]; then
  node -e "const m = require('parallel-evm'); if (typeof m.ParallelExecutor !== 'function') { console.error('require: no ParallelExecutor'); process.exit(1) }"
  echo "test:pack: require('parallel-evm') works from CommonJS"
else
  echo "test:pack: skipped the CommonJS check: this Node ($(node -v)) cannot require an ES module"
fi
npx tsc -p tsconfig.json
echo "test:pack: a consumer's TypeScript compiles against the installed types"
