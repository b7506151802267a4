#!/usr/bin/env bash
# The public API of connector-sdk, listed (connector-sdk/API.txt) so that a change to it is
# deliberate: `--check` fails with the difference when the code's API is not the listing's,
# `--write` rewrites the listing. The listing comes from rustdoc's JSON output, which is
# unstable: RUSTC_BOOTSTRAP lets this toolchain's rustdoc write it (what cargo-public-api needs
# a nightly toolchain for), and scripts/public_api.py reads it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mode="${1:---check}"
listing="connector-sdk/API.txt"
RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet -p connector-sdk --lib --features host -- -Z unstable-options --output-format json
current="$(mktemp)"
trap 'rm -f "$current"' EXIT
python3 scripts/public_api.py target/doc/connector_sdk.json > "$current"
# A connector builds the SDK without the host's side (the `host` feature).
if cargo tree -p sqs-connector -e features -i connector-sdk --prefix none | grep -q 'connector-sdk feature "host"'; then
  echo "error: sqs-connector builds connector-sdk with the feature \"host\"; a connector must not need the host's side" >&2
  exit 1
fi
# Nor tokio's process and signal support, which only hosts use.
if cargo tree -p sqs-connector -e normal,build,features -i tokio --prefix none | grep -Eq 'tokio feature "(process|signal)"'; then
  echo "error: sqs-connector builds tokio with process or signal support, which only hosts need" >&2
  exit 1
fi
case "$mode" in
  --write)
    cp "$current" "$listing"
    echo "wrote $listing ($(wc -l < "$listing") lines)"
    ;;
  --check)
    if ! diff -u "$listing" "$current" > "$current.diff"; then
      echo "error: connector-sdk's public API is not the one listed in $listing:" >&2
      cat "$current.diff" >&2
      rm -f "$current.diff"
      echo "If the change is deliberate, run ./scripts/api.sh --write and commit $listing." >&2
      exit 1
    fi
    rm -f "$current.diff"
    echo "connector-sdk's public API is the one listed in $listing"
    ;;
  *)
    echo "usage: scripts/api.sh [--check|--write]" >&2
    exit 2
    ;;
esac
