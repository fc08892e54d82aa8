#!/usr/bin/env bash
# `just bench`: the Go benchmarks of the hot paths, then the same crash, log-flood and idle
# workloads under our supervisor, supervisord and process-compose (bench/cmd/compare), our
# TUI's key → screen under a log flood and the start-up times, then a table of our figure,
# theirs and the ratio beside our targets.
#
# Peers: supervisord from Debian (scripts/install-tools.sh --bench); process-compose v1.64.1
# built here from its module source into bin/process-compose (nothing of it is committed). A
# peer that is missing is reported as unavailable and the rest still runs.
#
# Knobs (environment): BENCH_CRASH_RESTARTS (10), BENCH_FLOOD_LINES (5000000),
# BENCH_IDLE_SECONDS (30), BENCH_KEY_SWITCHES (40), BENCH_START_RUNS (10),
# BENCH_ONLY (crash,flood,idle,keys,start), BENCH_GOTIME (go test -benchtime, 1s),
# BENCH_SKIP_GO=1 (skip the Go benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
out=bin/bench
mkdir -p "$out"

pc_version=v1.64.1
# The module path is lower case (its go.mod says so); the proxy refuses the GitHub spelling
# F1bonacc1, and `go install …@latest` trips over the version list the proxy serves.
pc_module=github.com/f1bonacc1/process-compose
pc_bin=bin/process-compose
pc_cache=${XDG_CACHE_HOME:-$root/bin/.cache}/palyra-bench/process-compose

# build NAME PACKAGE builds into $out; on failure it leaves NAME.err, which compare reports.
build() {
  rm -f "$out/$1" "$out/$1.err"
  if ! go build -o "$out/$1" "$2" 2>"$out/$1.err"; then
    echo "build $1: failed ($(head -n1 "$out/$1.err"))"
    rm -f "$out/$1"
    return 1
  fi
  rm -f "$out/$1.err"
}

# build_process_compose fetches the module source with a throwaway GOPATH and builds ./src.
# It prints why when it cannot.
build_process_compose() {
  if [[ -x $pc_bin ]] && "$pc_bin" version 2>/dev/null | grep -q "$pc_version"; then
    return 0
  fi
  local gopath=$pc_cache/gopath
  mkdir -p "$gopath"
  local dl
  if ! dl=$(GOPATH=$gopath GOMODCACHE=$gopath/pkg/mod GOFLAGS=-mod=mod \
    go mod download -json "$pc_module@$pc_version" 2>&1); then
    echo "go mod download $pc_module@$pc_version failed: $(grep -o '"Error": "[^"]*' <<<"$dl" | head -n1 | cut -c11- | sed 's/\\n\\t/ /g')"
    return 1
  fi
  local dir
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$dl")
  local want have
  want=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$dir/go.mod")
  have=$(go env GOVERSION | sed 's/^go//')
  if [[ $(printf '%s\n%s\n' "$want" "$have" | sort -V | tail -n1) != "$have" ]]; then
    echo "its go.mod wants go $want, this toolchain is go $have"
    return 1
  fi
  # The module cache is read-only; build from a copy.
  rm -rf "$pc_cache/src"
  cp -r "$dir" "$pc_cache/src"
  chmod -R u+w "$pc_cache/src"
  local log=$pc_cache/build.log
  if ! (cd "$pc_cache/src" && GOPATH=$gopath GOMODCACHE=$gopath/pkg/mod GOFLAGS=-mod=mod \
    go build -trimpath -ldflags "-X $pc_module/src/config.Version=$pc_version" \
    -o "$root/$pc_bin" ./src) >"$log" 2>&1; then
    echo "go build ./src failed: $(grep -m1 -v '^go: downloading' "$log")"
    return 1
  fi
}

echo "== build"
build benchchild ./bench/cmd/benchchild
build compare ./bench/cmd/compare
build minisup ./bench/cmd/minisup || true
build palyra-tui ./cmd/palyra-tui || true
pc_args=()
if pc_reason=$(build_process_compose); then
  pc_args=(-process-compose "$root/$pc_bin")
  echo "process-compose: $("$pc_bin" version 2>/dev/null | sed -n 's/^Version:[[:space:]]*//p')"
else
  pc_args=(-process-compose-missing "$pc_reason")
  echo "process-compose: unavailable ($pc_reason)"
fi
if sd=$(command -v supervisord); then
  echo "supervisord: $("$sd" --version)"
  # A Debian install starts its own instance; ours runs on its own config and socket anyway.
else
  echo "supervisord: unavailable (scripts/install-tools.sh --bench installs it)"
fi

gobench=$out/gobench.txt
: >"$gobench"
if [[ ${BENCH_SKIP_GO:-} != 1 ]]; then
  echo
  echo "== go test -bench (packages with benchmarks)"
  mapfile -t pkgs < <(git ls-files --cached --others --exclude-standard '*_test.go' |
    xargs -r grep -l '^func Benchmark' | xargs -r -n1 dirname | sort -u | sed 's|^|./|')
  if ((${#pkgs[@]} == 0)); then
    echo "(none yet)"
  fi
  for pkg in "${pkgs[@]}"; do
    if ! go test -run '^$' -bench . -benchmem -benchtime "${BENCH_GOTIME:-1s}" "$pkg" 2>&1 | tee -a "$gobench"; then
      echo "($pkg: failed; continuing)"
    fi
  done
fi

echo
echo "== supervisors side by side"
"$out/compare" -bin "$out" -supervisord "${sd:-}" -gobench "$gobench" "${pc_args[@]}"
