#!/usr/bin/env bash
# Installs what building, testing and benchmarking need on a fresh Debian machine:
# protoc (Debian), the protoc Go plugins and `just` into ./bin, tmux for the end-to-end test,
# chromium for palyra-browserd and its engine tests, and the npm packages of the Node example
# connector plugin (connectors/examples/node-echo).
# Idempotent: anything already present is skipped. Pass --bench to also install supervisord,
# the peer that `just bench` measures beside us.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
export GOBIN="$PWD/bin"

need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v chromium >/dev/null || need_apt+=(chromium)
if [[ "${1:-}" == "--bench" ]]; then
  command -v supervisord >/dev/null || need_apt+=(supervisor)
fi
as_root=()
((EUID == 0)) || as_root=(sudo)
if ((${#need_apt[@]})); then
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# A Debian supervisor install starts its own service; the bench runs its own instance.
if [[ "${1:-}" == "--bench" ]] && command -v service >/dev/null; then
  "${as_root[@]}" service supervisor stop >/dev/null 2>&1 || true
fi

[[ -x bin/protoc-gen-go ]] || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
[[ -x bin/protoc-gen-go-grpc ]] || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

# `just` is a convenience (nothing the tests run needs it), published through npm.
if [[ ! -x bin/just ]] && ! command -v npm >/dev/null; then
  echo "install-tools: npm not found, so no ./bin/just; the justfile's recipes are plain commands (apt-get install npm for just)" >&2
elif [[ ! -x bin/just ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm install --silent --no-fund --no-audit rust-just-linux-x64@1.58.0 >/dev/null)
  cp "$tmp/node_modules/rust-just-linux-x64/bin/just" bin/just
  rm -rf "$tmp"
fi

# The Node example connector plugin's npm packages, for its tests (which skip without them,
# and fail under CI=1). Installed again only when its package-lock.json changes.
node_echo=connectors/examples/node-echo
if command -v npm >/dev/null; then
  lock_sum=$(sha256sum "$node_echo/package-lock.json" | cut -d' ' -f1)
  if [[ "$(cat "$node_echo/node_modules/.palyra-lock-sha256" 2>/dev/null)" != "$lock_sum" ]]; then
    if npm ci --prefix "$node_echo" --silent --no-fund --no-audit --ignore-scripts >/dev/null; then
      echo "$lock_sum" >"$node_echo/node_modules/.palyra-lock-sha256"
    else
      echo "install-tools: npm ci in $node_echo failed; the Node example connector's tests will skip" >&2
    fi
  fi
fi
