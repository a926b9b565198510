#!/usr/bin/env bash
# redis-cli smoke test: starts `meridian server` on a free 127.0.0.1 port,
# runs a few redis-cli commands (one-shot and piped), checks the answers,
# and stops the server. Bounded: every step has a timeout.
#
# Usage: node/tests/redis_cli_smoke.sh   (binary: $MERIDIAN_BIN or
#        target/debug/meridian in the workspace; needs redis-cli)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
workspace="$(cd "$here/../.." && pwd)"
bin="${MERIDIAN_BIN:-$workspace/target/debug/meridian}"
command -v redis-cli >/dev/null || { echo "redis-cli not installed" >&2; exit 1; }
[ -x "$bin" ] || { echo "no meridian binary at $bin (cargo build -p meridian-node)" >&2; exit 1; }

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
MERIDIAN_LOG=warn "$bin" server --bind 127.0.0.1 --port "$port" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

cli() { timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"; }

for _ in $(seq 1 200); do
  if cli ping >/dev/null 2>&1; then break; fi
  sleep 0.05
done

passed=0
failed=0
check() { # name expected actual
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1: expected [$2] got [$3]" >&2
  fi
}

check ping "PONG" "$(cli ping)"
check echo "hello world" "$(cli echo 'hello world')"
check dbsize "0" "$(cli dbsize)"
check select "OK" "$(cli select 15)"
check unknown "ERR unknown command 'nosuch', with args beginning with: 'x' " "$(cli nosuch x)"
check arity "ERR wrong number of arguments for 'echo' command" "$(cli echo)"
check config "maxclients
10000" "$(cli config get maxclients)"
check hello3 "proto 3" "$(cli -3 hello 3 | sed -n 3p)"
check piped "PONG
OK
meridian-smoke
0" "$(printf 'ping\nclient setname meridian-smoke\nclient getname\ndbsize\n' | cli)"
check info "redis_mode:standalone" "$(cli info server | tr -d '\r' | grep '^redis_mode:')"
check pipeline "1000" "$(for _ in $(seq 1 1000); do echo ping; done | cli --pipe 2>&1 | sed -n 's/.*replies: \([0-9]*\).*/\1/p')"
cli shutdown >/dev/null 2>&1 || true
if timeout 10 tail --pid="$pid" -f /dev/null; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL shutdown: server still running" >&2; fi

echo "redis-cli smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
