"""Obtains credentials from an IAM Roles Anywhere endpoint with the PyPI package
iam-rolesanywhere-session; run by test-harness/tests/emulator/interop.rs against the emulator.

Usage: python rolesanywhere_session.py '<JSON array of IAMRolesAnywhereSession keyword arguments>'

Runs one session per element, in order, and prints one JSON array with one result each:
{"ok": true, "accessKeyId": ..., "expiration": ..., ...} or {"ok": false, "error": "..."}.
The secret key and the session token are never printed, only their lengths.
"""

import json
import sys

from iam_rolesanywhere_session import IAMRolesAnywhereSession


def run(kwargs: dict) -> dict:
    try:
        session = IAMRolesAnywhereSession(**kwargs)
        credentials = session.get_refreshable_credentials()
        frozen = credentials.get_frozen_credentials()
        expiry = credentials._expiry_time  # set by botocore from the answer's "expiration"
    except Exception as error:  # report every failure to the Rust test
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return {
        "ok": True,
        "accessKeyId": frozen.access_key,
        "secretAccessKeyLength": len(frozen.secret_key or ""),
        "sessionTokenLength": len(frozen.token or ""),
        "expiration": expiry.isoformat() if expiry else None,
    }


def main() -> int:
    cases = json.loads(sys.argv[1])
    print(json.dumps([run(kwargs) for kwargs in cases]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
