# Shared set-up for scripts/test.sh and scripts/quickstart.sh: a local Python virtual environment
# with the test servers, free loopback ports, and servers that stop when the script exits.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
RUN_DIR="${RUN_DIR:-$ROOT/.test-run}"
mkdir -p "$RUN_DIR"
STARTED_PIDS=()

say() { printf '==> %s\n' "$*"; }

stop_started() {
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
}
trap stop_started EXIT
trap 'exit 130' INT TERM

# Installs the Python packages the tests use into .venv (once; again when requirements change).
ensure_venv() {
  local req="$ROOT/scripts/requirements-test.txt" stamp="$VENV/.requirements.sha256"
  local want; want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "installing test servers into .venv (moto; about 30 s the first time)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until an HTTP GET on $1 answers (any status), or fails after $2 seconds.
wait_http() {
  python3 - "$1" "${2:-30}" <<'PY'
import sys, time, urllib.request, urllib.error
url, limit = sys.argv[1], float(sys.argv[2])
deadline = time.time() + limit
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

# Starts moto on a free loopback port; exports SQS_TEST_ENDPOINT. Fails loudly when it can't.
# Through scripts/sqs_server.py: moto's server with its concurrent deletes fixed (plain moto
# 5.2.5 puts back some messages that two DeleteMessageBatch calls at once deleted).
start_moto() {
  local port; port="$(free_port)"
  "$VENV/bin/python" "$ROOT/scripts/sqs_server.py" -H 127.0.0.1 -p "$port" > "$RUN_DIR/moto.log" 2>&1 &
  STARTED_PIDS+=("$!")
  if ! wait_http "http://127.0.0.1:$port/moto-api/" 60; then
    echo "error: the moto server did not start on 127.0.0.1:$port; its log:" >&2
    cat "$RUN_DIR/moto.log" >&2
    exit 1
  fi
  export SQS_TEST_ENDPOINT="http://127.0.0.1:$port"
  say "moto (SQS) listening on $SQS_TEST_ENDPOINT"
}

# Starts the harness's IAM Roles Anywhere emulator on a free loopback port; exports
# ROLES_ANYWHERE_TEST_ENDPOINT. $1 is the harness binary, $2 the emulator config.
start_emulator() {
  local harness="$1" config="$2" out="$RUN_DIR/emulator.out"
  : > "$out"
  "$harness" roles-anywhere-emulator --config "$config" > "$out" 2> "$RUN_DIR/emulator.log" &
  STARTED_PIDS+=("$!")
  local waited=0
  until grep -q '^listening on ' "$out"; do
    sleep 0.1
    waited=$((waited + 1))
    if [ "$waited" -gt 300 ]; then
      echo "error: the Roles Anywhere emulator did not start; its log:" >&2
      cat "$RUN_DIR/emulator.log" >&2
      exit 1
    fi
  done
  ROLES_ANYWHERE_TEST_ENDPOINT="$(sed -n 's/^listening on //p' "$out" | head -n 1)"
  export ROLES_ANYWHERE_TEST_ENDPOINT
  say "Roles Anywhere emulator listening on $ROLES_ANYWHERE_TEST_ENDPOINT"
}

# The studio's browser tests drive Debian's Chromium through chromedriver: installs both when
# missing (as root, with apt-get). Without them those tests fail, they are never skipped.
ensure_browser() {
  if [ -x "${STUDIO_CHROMIUM:-/usr/bin/chromium}" ] && [ -x "${STUDIO_CHROMEDRIVER:-/usr/bin/chromedriver}" ]; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get > /dev/null; then
    say "installing chromium and chromium-driver for the studio's browser tests (about a minute)"
    apt-get update -qq > "$RUN_DIR/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >> "$RUN_DIR/apt.log" 2>&1 ||
      { echo "error: chromium could not be installed; the studio's browser tests will fail. apt's log:" >&2; tail -20 "$RUN_DIR/apt.log" >&2; }
  else
    echo "warning: chromium or chromedriver is missing and cannot be installed here (not root): the studio's browser tests will fail; install Debian's chromium and chromium-driver" >&2
  fi
}
