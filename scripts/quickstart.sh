#!/usr/bin/env bash
# The quickstart: builds the connector and the test harness, starts a local SQS-compatible server
# (moto) on loopback, and shows the connector at work, explaining each step. Stops everything it
# started when it ends.
set -euo pipefail
RUN_DIR="$(cd "$(dirname "$0")/.." && pwd)/.quickstart"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# The step running now, for the last line when one fails.
STEP=0
STEP_TITLE="starting"
STEPS=7
step() {
  STEP="$1"
  STEP_TITLE="$2"
  say "$STEP/$STEPS $STEP_TITLE"
}
# Replaces lib.sh's EXIT trap (and still stops what was started): a failed step, or Ctrl-C, ends
# the output with the step and the exit code.
on_exit() {
  local code=$?
  stop_started
  if [ "$code" -ne 0 ]; then
    echo "quickstart failed at step $STEP: $STEP_TITLE (exit code $code)" >&2
  fi
  exit "$code"
}
trap on_exit EXIT

# The first build of a fresh clone takes minutes: cargo shows its progress.
step 1 "building the connector (sqs-connector) and the host (test-harness)"
cargo build --workspace
HARNESS="$ROOT/target/debug/test-harness"

step 2 "installing and starting a local SQS server (moto) on loopback"
ensure_venv
start_moto

cat <<TEXT

The connection component examples/components/conn-local-keys.json is what a user saves in an
integration platform: authentication type, access key, region, and here an endpoint override that
points at the local server. Its secret key is not in the file: {"env": "SQS_SECRET_KEY"} tells the
host to read it from the environment, and it travels to the plugin only inside the request.

TEXT
export SQS_ENDPOINT_URL="$SQS_TEST_ENDPOINT"
export SQS_SECRET_KEY="quickstart-example-secret-key"

step 3 "Test Connection with access keys (the plugin runs as a separate process)"
"$HARNESS" test-connection --connection examples/components/conn-local-keys.json

step 4 "Test Connection with AWS IAM Roles Anywhere (an X.509 certificate and key)"
start_emulator "$HARNESS" test-harness/fixtures/emulator/config.json
cat <<TEXT

The connection examples/roles-anywhere/conn-local-roles-anywhere.json authenticates with a test
certificate, its intermediate CA and an encrypted private key. The connector signs a CreateSession
request with the key, the local emulator (standing in for IAM Roles Anywhere) checks the signature
and the certificate chain and issues temporary credentials, and the connector keeps them in its
process-wide cache and signs its SQS calls with them.

TEXT
export ROLES_ANYWHERE_ENDPOINT_URL="$ROLES_ANYWHERE_TEST_ENDPOINT"
export QUICKSTART_KEY_PASSPHRASE="password"
"$HARNESS" test-connection --connection examples/roles-anywhere/conn-local-roles-anywhere.json

step 5 "what a user sees when a setting is wrong: the region typed in capitals"
sed 's/"region": "us-east-1"/"customRegion": "US-EAST-2"/' examples/components/conn-local-keys.json \
  > "$RUN_DIR/conn-bad-region.json"
set +e
"$HARNESS" test-connection --connection "$RUN_DIR/conn-bad-region.json"
code=$?
set -e
if [ "$code" -ne 2 ]; then
  echo "error: expected exit code 2 (invalid fields) for the bad region, got $code" >&2
  exit 1
fi
echo "(exit code 2: the fields are invalid and nothing was sent to AWS)"

step 6 "a process: send 300 orders with attributes, receive them, delete them"
"$VENV/bin/python" - <<PY
import boto3
sqs = boto3.client("sqs", endpoint_url="$SQS_TEST_ENDPOINT", region_name="us-east-1",
                   aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="unused")
sqs.create_queue(QueueName="quickstart-orders")
PY
cat <<TEXT
The process examples/orders-roundtrip.process.json has three steps, each an operation component
on the same connection, all through one plugin process:
  send    - 300 documents from examples/documents/orders.jsonl, each with a String, a Number and
            a Binary message attribute, grouped into batches of 10 (several in flight);
  receive - reads every message available (maxMessages -1), verifying each MD5;
  delete  - deletes what receive read, using the receipt handles it wrote on each document.
TEXT
(cd examples && "$HARNESS" run --process orders-roundtrip.process.json --output "$RUN_DIR/output")
cat <<TEXT
Every document got exactly one result; the results and output documents of each step are in
$RUN_DIR/output (one JSON object per line).

TEXT

step 7 "a listener: a long-running consumer that moves new orders to an archive queue"
"$VENV/bin/python" - <<PY
import boto3, json
sqs = boto3.client("sqs", endpoint_url="$SQS_TEST_ENDPOINT", region_name="us-east-1",
                   aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="unused")
sqs.create_queue(QueueName="quickstart-orders-archive")
url = sqs.get_queue_url(QueueName="quickstart-orders")["QueueUrl"]
for i in range(30):
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"orderId": "NEW-%05d" % i}))
PY
cat <<TEXT
The process examples/orders-listen.process.json starts with a LISTEN step: the plugin polls
quickstart-orders and sends the host each batch of messages; the host runs the next step (SEND to
quickstart-orders-archive) over it and answers per message: SUCCESS deletes the message, a failure
would release it to be delivered again. It runs for 4 seconds here, then stops the listener,
letting the batches in flight finish (drain).
TEXT
(cd examples && "$HARNESS" listen --process orders-listen.process.json --for 4 \
  --output "$RUN_DIR/listen-output")

cat <<TEXT

Done. To point the same connections at real AWS, edit the component files:
  - remove "endpointUrl" (the connector then uses https://sqs.<region>.amazonaws.com),
  - set "region" to your account's region (or "customRegion" for one not in the list),
  - set "accessKey" to your access key id and keep "secretKey" as {"env": "SQS_SECRET_KEY"},
    exporting your real secret key in SQS_SECRET_KEY before running the harness;
  - in examples/components/op-*.json, set "queue" to one of your queues (a name or its URL);
  - for Roles Anywhere, remove "rolesAnywhereEndpointUrl", set the three ARNs and
    "rolesAnywhereRegion" to yours, and point the certificate, chain and key at your own files.
The descriptor a host renders the connection form from: ./target/debug/sqs-connector describe
(as tables of the fields and options: ./target/debug/sqs-connector describe --summary)
TEXT
