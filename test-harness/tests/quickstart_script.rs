//! `scripts/quickstart.sh` in a sandbox: a copy of the scripts in a folder of their own, with a
//! stand-in `cargo` on the PATH, a stand-in moto (a plain HTTP server) in the sandbox's `.venv`,
//! and a stand-in harness that fails. Step 1's build shows cargo's own progress (no `--quiet`),
//! and a failing step ends the output with `quickstart failed at step N: <title> (exit code C)`,
//! after the servers it started were stopped.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use sha2::Digest as _;

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A sandbox whose `cargo` exits with `cargo_exit` (recording its arguments in `cargo-args`)
/// and whose harness always fails with exit code 1.
fn sandbox(cargo_exit: i32) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    std::fs::create_dir(root.path().join("scripts")).unwrap();
    for name in ["quickstart.sh", "lib.sh", "requirements-test.txt"] {
        std::fs::copy(scripts.join(name), root.path().join("scripts").join(name)).unwrap();
    }
    let args = root.path().join("cargo-args");
    script(
        &root.path().join("bin/cargo"),
        &format!("echo \"$*\" >> '{}'\nexit {cargo_exit}", args.display()),
    );
    // lib.sh's ensure_venv takes a .venv whose stamp matches the requirements as installed.
    let requirements = std::fs::read(scripts.join("requirements-test.txt")).unwrap();
    let stamp = hex::encode(sha2::Sha256::digest(&requirements));
    let venv = root.path().join(".venv");
    // Called as `python .../sqs_server.py -H 127.0.0.1 -p PORT`: any HTTP answer on the port
    // will do. Anything else run with the sandbox's Python fails.
    script(
        &venv.join("bin/python"),
        "case \"$1\" in *sqs_server.py) ;; *) echo 'the sandbox has no Python packages' >&2; exit 1;; esac\n\
         while [ $# -gt 0 ]; do [ \"$1\" = -p ] && port=\"$2\"; shift; done\n\
         exec python3 -m http.server --bind 127.0.0.1 \"$port\"",
    );
    std::fs::write(venv.join(".requirements.sha256"), format!("{stamp}\n")).unwrap();
    script(
        &root.path().join("target/debug/test-harness"),
        "echo \"stand-in harness: $1 fails\" >&2; exit 1",
    );
    root
}

/// Runs the sandbox's quickstart; returns its exit code, stdout and stderr.
fn quickstart(root: &Path) -> (Option<i32>, String, String) {
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(root.join("scripts/quickstart.sh"))
        .env("PATH", path)
        .output()
        .expect("bash runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_failing_step_ends_the_output_with_the_step_and_the_exit_code() {
    let root = sandbox(0);
    let (code, stdout, stderr) = quickstart(root.path());
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(
            "quickstart failed at step 3: Test Connection with access keys (the plugin runs as \
             a separate process) (exit code 1)"
        ),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("stand-in harness: test-connection fails"),
        "{stderr}"
    );
    // Step 1 built with cargo's own progress showing.
    let cargo = std::fs::read_to_string(root.path().join("cargo-args")).unwrap();
    assert_eq!(
        cargo.trim(),
        "build --workspace",
        "cargo was run as: {cargo}"
    );
    // The stand-in moto of step 2 was stopped before the script ended.
    let url = stdout
        .lines()
        .find_map(|line| line.strip_prefix("==> moto (SQS) listening on http://"))
        .unwrap_or_else(|| panic!("step 2 started the server:\n{stdout}"));
    assert!(
        std::net::TcpStream::connect(url).is_err(),
        "the server on {url} still answers"
    );
}

#[test]
fn a_failing_build_is_step_1_with_cargos_exit_code() {
    let root = sandbox(101);
    let (code, stdout, stderr) = quickstart(root.path());
    assert_eq!(code, Some(101), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(
            "quickstart failed at step 1: building the connector (sqs-connector) and the host \
             (test-harness) (exit code 101)"
        ),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
