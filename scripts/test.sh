#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the test servers into .venv, starts
# them on loopback, checks formatting and lints, runs the whole test suite, and stops the servers,
# also when a test fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_browser
say "building the workspace"
cargo build --workspace --all-targets --quiet
start_moto
say "checking formatting, lints, the API docs and the SDK's public API listing"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
./scripts/api.sh --check
say "running the tests"
set +e
# In CI the fuzzers start from one fixed seed, so that a run's result does not depend on the draw
# (a new finding is for a developer's longer run to make, see the README); elsewhere each run
# draws its own seed and prints it.
if [ "${CI:-}" = "true" ] && [ -z "${FUZZ_SEED:-}" ]; then
  export FUZZ_SEED=20261130
fi
# Every test binary runs, also after one failed, so that a run shows every failure.
cargo test --workspace --quiet --no-fail-fast 2>&1 | tee "$RUN_DIR/cargo-test.log"
status=${PIPESTATUS[0]}
say "testing the tests' SQS server (scripts/sqs_server.py: moto, with its concurrent deletes fixed)"
"$VENV/bin/python" scripts/test_sqs_server.py > "$RUN_DIR/sqs-server-test.log" 2>&1
server=$?
say "running the quickstart, as a new user would"
./scripts/quickstart.sh > "$RUN_DIR/quickstart.log" 2>&1
quickstart=$?
say "running the benchmark once, small (bench.sh --quick: it must run and check its counts; nothing is timed)"
./scripts/bench.sh --quick > "$RUN_DIR/bench-quick.log" 2>&1
bench=$?
set -e
passed=$(grep -Eo '[0-9]+ passed' "$RUN_DIR/cargo-test.log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$RUN_DIR/cargo-test.log" | awk '{s+=$1} END {print s+0}')
# Counts a check that is not a cargo test as one test, and shows its output when it failed.
tally() { # name exit-code log
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1))
    echo "$1: passed"
  else
    failed=$((failed + 1))
    echo "$1: FAILED (exit $2); its output:"
    cat "$3"
  fi
}
tally "sqs server" "$server" "$RUN_DIR/sqs-server-test.log"
tally "quickstart" "$quickstart" "$RUN_DIR/quickstart.log"
tally "bench --quick" "$bench" "$RUN_DIR/bench-quick.log"
echo "${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ]; then exit "$status"; fi
if [ "$server" -ne 0 ]; then exit "$server"; fi
if [ "$quickstart" -ne 0 ]; then exit "$quickstart"; fi
exit "$bench"
