//! `test-harness`: a host runtime for the connectors of this repository.

// STYLE: code that is not a test does not panic on a value it did not check.
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use test_harness::plugin::PluginLog;
use test_harness::{EXIT_FAILED, EXIT_OK, descriptors, outln};

/// A host runtime for connectors: Test Connection, descriptors, and more.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check or rewrite the checked-in connector descriptors (descriptors/*.json) and the
    /// README's reference section generated from them.
    Descriptors {
        /// Fail (exit 1) when a descriptor file or the README's reference is missing or stale.
        #[arg(long, conflicts_with = "write", required_unless_present = "write")]
        check: bool,
        /// Regenerate every descriptor file and the README's reference section.
        #[arg(long)]
        write: bool,
        /// The descriptors folder (default: this repository's descriptors/).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The README whose reference section (between its generated-section markers) is
        /// rewritten or checked (default: this repository's README.md; with --dir, none unless
        /// given).
        #[arg(long)]
        readme: Option<PathBuf>,
    },
    /// Run Test Connection for a connection component file through the plugin. Exit code 0 when it
    /// passed, 1 when it failed, 2 when the file or its fields are invalid.
    TestConnection {
        /// The connection component (JSON); string fields may be {"env": "NAME"} or {"file": "path"}.
        #[arg(long)]
        connection: PathBuf,
        /// The plugin executable (default: sqs-connector next to this program).
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// Print the outcome as one JSON object on stdout, whatever it is: component, outcome,
        /// exitCode, ok, steps, fieldErrors, error.
        #[arg(long)]
        json: bool,
        /// Where the plugin's log (JSON lines; level from CONNECTOR_LOG) goes: - for stderr, or
        /// a file to append to (default: not shown).
        #[arg(long, value_name = "FILE|-")]
        plugin_log: Option<PluginLog>,
    },
    /// Execute a process (steps of operations over documents) through one plugin process. Exit
    /// code 0 when every document succeeded, 1 otherwise, 2 when a file or component is invalid.
    Run {
        /// The process file (JSON).
        #[arg(long)]
        process: PathBuf,
        /// The plugin executable (default: sqs-connector next to this program).
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// Where to write each step's results and outputs (default: output/<process name>).
        #[arg(long)]
        output: Option<PathBuf>,
        /// How many process executions to run through the same plugin process (1 to 10000).
        #[arg(long, default_value_t = 1, value_parser = count_in(1, 10_000))]
        executions: usize,
        /// Run the executions at the same time.
        #[arg(long)]
        parallel: bool,
        /// The most documents per execute call (1 to 100000).
        #[arg(long, default_value_t = 500, value_parser = count_in(1, 100_000))]
        batch_size: usize,
        /// Print only the summary.
        #[arg(long)]
        quiet: bool,
        /// Print the summary as one JSON object on stdout, whatever the outcome: process,
        /// outcome, exitCode, error, fieldErrors, executions, elapsedSeconds, output, steps.
        #[arg(long)]
        json: bool,
        /// Where the plugin's log (JSON lines; level from CONNECTOR_LOG) goes: - for stderr, or
        /// a file to append to (default: not shown).
        #[arg(long, value_name = "FILE|-")]
        plugin_log: Option<PluginLog>,
        /// Seconds an execute call may take before it is cancelled (a note is printed once it
        /// has run a quarter of that, at most 30 s).
        #[arg(long, default_value_t = 120.0, value_parser = positive_seconds)]
        call_timeout: f64,
        /// Seconds a cancelled call, and the plugin's shutdown, may take before the plugin is
        /// killed (it is started again for the next call).
        #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
        grace_period: f64,
    },
    /// Run a process whose first step is a listener (operation type LISTEN, protocol 1.1): each
    /// batch it sends goes through the later steps and is answered per document (SUCCESS commits
    /// a message, FAILURE releases it). Runs until --for, --max-batches or Ctrl-C, then stops
    /// the listener (draining it unless --no-drain). Exit code 0 when every document of every
    /// batch succeeded, 1 otherwise, 2 when a file or component is invalid.
    Listen {
        /// The process file (JSON); its first step is the listener.
        #[arg(long)]
        process: PathBuf,
        /// The plugin executable (default: sqs-connector next to this program).
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// Where to write the results of every batch (default: output/<process name>).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long = "for", value_name = "SECONDS", value_parser = positive_seconds)]
        for_seconds: Option<f64>,
        /// Stop once this many batches were taken.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_batches: Option<u64>,
        /// Stop by releasing the batches in flight at once instead of finishing them.
        #[arg(long)]
        no_drain: bool,
        /// Where the plugin's log (JSON lines; level from CONNECTOR_LOG) goes: - for stderr, or
        /// a file to append to (default: not shown).
        #[arg(long, value_name = "FILE|-")]
        plugin_log: Option<PluginLog>,
        /// The most documents per execute call of the later steps (1 to 100000).
        #[arg(long, default_value_t = 500, value_parser = count_in(1, 100_000))]
        batch_size: usize,
        /// Seconds an execute call may take before it is cancelled; stopping the listener may
        /// take this and the grace period.
        #[arg(long, default_value_t = 120.0, value_parser = positive_seconds)]
        call_timeout: f64,
        /// Seconds a cancelled call, and the plugin's shutdown, may take before the plugin is
        /// killed.
        #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
        grace_period: f64,
    },
    /// Serve an IAM Roles Anywhere CreateSession emulator (config format: the docs of
    /// test_harness::emulator). Prints `listening on http(s)://HOST:PORT` first.
    RolesAnywhereEmulator {
        /// The emulator configuration (JSON).
        #[arg(long)]
        config: PathBuf,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Serve HTTPS on a generated self-signed certificate, written as PEM to this file.
        #[arg(long, value_name = "CERT_OUT")]
        tls: Option<PathBuf>,
    },
    /// Serve a fault-injecting HTTP proxy in front of an SQS-compatible server (the docs of
    /// test_harness::fault_proxy). Prints `listening on http://127.0.0.1:PORT` first.
    FaultProxy {
        /// The server to forward to: http://host:port (plain HTTP).
        #[arg(long)]
        upstream: String,
        /// Where to listen (loopback only).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// A fault rule, KIND[:RATE][@Action1,Action2][#MAX], e.g. reset-after:0.25@SendMessageBatch;
        /// repeat for several, tried in order. Kinds: internal-error, throttling, reset-before,
        /// reset-after, delay, truncate, corrupt-md5.
        #[arg(long = "fault", value_name = "RULE")]
        faults: Vec<test_harness::fault_proxy::FaultRule>,
        /// The seed of the draws against the rates (the same seed, the same faults).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How long a `delay` fault holds the answer, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        delay_ms: u64,
    },
    /// Serve the studio: a local web app to configure, test, try and save components in a
    /// browser, its forms made from the descriptor the plugin returns. Prints `listening on
    /// http://HOST:PORT` first.
    Studio {
        /// The folder of component files it lists, loads and saves (the folder a process file's
        /// "components" names).
        #[arg(long, default_value = test_harness::studio::DEFAULT_COMPONENTS)]
        components: PathBuf,
        /// Where to listen: a loopback address unless --allow-remote.
        #[arg(long, default_value = test_harness::studio::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Listen on an address other than loopback (whoever reaches it can use the
        /// credentials it holds).
        #[arg(long)]
        allow_remote: bool,
        /// The plugin executable (default: sqs-connector next to this program).
        #[arg(long)]
        plugin: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Descriptors {
            check,
            write,
            dir,
            readme,
        } => {
            debug_assert!(check != write);
            ExitCode::from(generated_files(write, dir, readme))
        }
        Command::Run {
            process,
            plugin,
            output,
            executions,
            parallel,
            batch_size,
            quiet,
            json,
            plugin_log,
            call_timeout,
            grace_period,
        } => {
            let options = test_harness::run::RunOptions {
                process,
                plugin,
                output,
                executions,
                parallel,
                batch_size,
                quiet,
                limits: test_harness::plugin::CallLimits {
                    timeout: std::time::Duration::from_secs_f64(call_timeout),
                    grace: std::time::Duration::from_secs_f64(grace_period),
                },
                json,
                plugin_log: plugin_log.unwrap_or_default(),
            };
            block_on(test_harness::run::run(&options))
        }
        Command::Listen {
            process,
            plugin,
            output,
            for_seconds,
            max_batches,
            no_drain,
            plugin_log,
            batch_size,
            call_timeout,
            grace_period,
        } => {
            let options = test_harness::listen::ListenOptions {
                process,
                plugin,
                output,
                duration: for_seconds.map(std::time::Duration::from_secs_f64),
                max_batches,
                drain: !no_drain,
                batch_size,
                limits: test_harness::plugin::CallLimits {
                    timeout: std::time::Duration::from_secs_f64(call_timeout),
                    grace: std::time::Duration::from_secs_f64(grace_period),
                },
                plugin_log: plugin_log.unwrap_or_default(),
            };
            block_on(test_harness::listen::listen(&options))
        }
        Command::TestConnection {
            connection,
            plugin,
            json,
            plugin_log,
        } => block_on(test_harness::test_connection::run(
            &connection,
            plugin.as_deref(),
            json,
            &plugin_log.unwrap_or_default(),
        )),
        Command::RolesAnywhereEmulator {
            config,
            listen,
            tls,
        } => ExitCode::from(test_harness::emulator::run_cli(&config, listen, tls)),
        Command::FaultProxy {
            upstream,
            listen,
            faults,
            seed,
            delay_ms,
        } => {
            let config = test_harness::fault_proxy::FaultProxyConfig {
                upstream,
                listen,
                rules: faults,
                seed,
                delay: std::time::Duration::from_millis(delay_ms),
            };
            ExitCode::from(test_harness::fault_proxy::run_cli(config))
        }
        Command::Studio {
            components,
            listen,
            allow_remote,
            plugin,
        } => ExitCode::from(test_harness::studio::run_cli(
            test_harness::studio::StudioOptions {
                components,
                listen,
                allow_remote,
                plugin,
            },
        )),
    }
}

/// `descriptors --write` or `--check`: the exit code. Without `--dir` the repository's README
/// goes with the repository's descriptors; with it, only a README given with `--readme`.
fn generated_files(write: bool, dir: Option<PathBuf>, readme: Option<PathBuf>) -> u8 {
    let mut fix = descriptors::WRITE_COMMAND.to_owned();
    if let Some(dir) = &dir {
        fix.push_str(&format!(" --dir {}", dir.display()));
    }
    if let Some(readme) = &readme {
        fix.push_str(&format!(" --readme {}", readme.display()));
    }
    let readme = match (readme, &dir) {
        (Some(readme), _) => Some(readme),
        (None, None) => Some(descriptors::default_readme()),
        (None, Some(_)) => None,
    };
    let dir = dir.unwrap_or_else(descriptors::default_dir);
    if !write {
        let stale = descriptors::check(&dir, readme.as_deref());
        if stale.is_empty() {
            match &readme {
                Some(readme) => outln!("descriptors and {} are current", readme.display()),
                None => outln!("descriptors are current"),
            }
            return EXIT_OK;
        }
        for file in &stale {
            eprintln!("stale: {file}");
        }
        eprintln!("regenerate with: {fix}");
        return EXIT_FAILED;
    }
    match descriptors::write(&dir) {
        Ok(names) => {
            for name in names {
                outln!("wrote {}", dir.join(name).display());
            }
        }
        Err(err) => {
            eprintln!(
                "error: cannot write descriptors into {}: {err}",
                dir.display()
            );
            return EXIT_FAILED;
        }
    }
    if let Some(readme) = readme {
        match descriptors::write_readme(&readme) {
            Ok(true) => outln!("wrote {} (its reference section)", readme.display()),
            Ok(false) => outln!("{}: its reference section is current", readme.display()),
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_FAILED;
            }
        }
    }
    EXIT_OK
}

/// A count from `min` to `max`: 0 documents per call or 0 executions is refused, not taken as 1.
fn count_in(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |text| match text.parse::<usize>() {
        Ok(count) if (min..=max).contains(&count) => Ok(count),
        _ => Err(format!(
            "{text:?} is not a whole number from {min} to {max}"
        )),
    }
}

/// A number of seconds above zero (and up to a day).
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 and up to 86400"
        )),
    }
}

fn block_on(work: impl std::future::Future<Output = u8>) -> ExitCode {
    ExitCode::from(test_harness::block_on(work))
}
