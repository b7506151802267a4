#!/usr/bin/env bash
# Writes RELIABILITY.md: runs the fault tests (test-harness/tests/faults.rs) through the plugin
# process, with the harness's fault-injecting proxy between the connector and a moto server, and
# collects the table each test writes. The same tests run, without writing, in scripts/test.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
say "building the workspace"
cargo build --workspace --all-targets --quiet
start_moto
rows="$RUN_DIR/reliability"
rm -rf "$rows"
mkdir -p "$rows"
say "running the fault tests"
RELIABILITY_DIR="$rows" cargo test --workspace --quiet --test faults -- --test-threads 4
{
  cat <<'TEXT'
# Reliability under faults

Written by `./scripts/reliability.sh` (the tests are `test-harness/tests/faults.rs`, which also run
in `./scripts/test.sh`). Each row is one run through the plugin process with the harness's
fault-injecting proxy (`test-harness fault-proxy`) between the connector and a moto server: the
fault hits 25% of the named calls (SEND: `SendMessageBatch`; RECEIVE: `ReceiveMessage` and
`DeleteMessageBatch`), chosen by a seeded generator. Afterwards the queue is read on the server
itself, with the proxy bypassed.

- **lost**: SEND: a document reported SUCCESS whose message is not on the queue. RECEIVE: a message
  gone from the queue that is not in the outputs.
- **duplicated on server**: extra copies of a message on the queue. They can only follow a fault
  after which the client cannot know whether the call took effect (`reset-after`: the request
  reached the server and the connection was then reset; `delay`: the answer came after the
  connector's attempt timeout, 2.5 s in these tests; `truncate`: the answer broke off). The
  connector then sends again, and says so: the result is SUCCESS with status code
  `POSSIBLE_DUPLICATE` and the output property `sqs.possibleDuplicate` = `true`. On FIFO queues the
  retry carries the same deduplication id and SQS keeps one copy.
- **duplicates not reported**: a document with extra copies on the queue whose result does not say
  `POSSIBLE_DUPLICATE`. Must be 0.
- **false failures**: a document reported FAILURE whose message is on the queue, unless its status
  code is `OUTCOME_UNKNOWN` ("may or may not have been sent"). Must be 0.
- RECEIVE rows have one document (the trigger) and one result; the notes say how many messages
  were passed on and how many were left on the queue unread (a read whose answer was lost hides
  its messages until their visibility timeout, 3 s here, and the execution may end before that:
  they are read by the next execution, not lost). With delete after read, messages are deleted only after the answer that carries
  them has been written to the host; a delete that fails after that is logged, and the message is
  delivered again after its visibility timeout (at least once, never lost).

TEXT
  for file in "$rows"/*.md; do
    cat "$file"
    echo
  done
  echo "Run on $(date -u +%Y-%m-%d) on a $(nproc)-core machine."
} > RELIABILITY.md
say "wrote RELIABILITY.md"
