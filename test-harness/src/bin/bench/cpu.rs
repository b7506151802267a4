//! CPU time spent by each process during a run, from `/proc`: this process, its waited-for
//! children (the boto3 script), the plugin processes it started, and the SQS server. It shows
//! where the time of a run goes, and which core was saturated.

use std::path::Path;

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU seconds used so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cpu {
    /// This process (the bench: host side, raw SDK, in-process connector).
    pub bench: f64,
    /// Children that exited and were waited for (the boto3 script).
    pub exited_children: f64,
    /// Running `sqs-connector` children (the plugin processes).
    pub plugin: f64,
    /// The SQS server process.
    pub server: f64,
}

/// (utime + stime, cutime + cstime, parent pid, command name) of a `/proc/<pid>/stat` file.
fn stat(path: &Path) -> Option<(f64, f64, u32, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let number = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let ppid = fields.get(1)?.parse().ok()?;
    Some((
        (number(11)? + number(12)?) / TICKS,
        (number(13)? + number(14)?) / TICKS,
        ppid,
        name,
    ))
}

/// A snapshot now; `server` is the SQS server's pid when known.
pub(crate) fn snapshot(server: Option<u32>) -> Cpu {
    let me = std::process::id();
    let (bench, exited_children) = stat(Path::new("/proc/self/stat"))
        .map(|(own, children, _, _)| (own, children))
        .unwrap_or_default();
    let mut plugin = 0.0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if !entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                continue;
            }
            if let Some((own, _, ppid, name)) = stat(&entry.path().join("stat"))
                && ppid == me
                && name == "sqs-connector"
            {
                plugin += own;
            }
        }
    }
    let server = server
        .and_then(|pid| stat(&Path::new("/proc").join(pid.to_string()).join("stat")))
        .map(|(own, ..)| own)
        .unwrap_or_default();
    Cpu {
        bench,
        exited_children,
        plugin,
        server,
    }
}

/// The CPU seconds process `pid` has used so far, if it runs.
pub(crate) fn process_seconds(pid: u32) -> Option<f64> {
    stat(&Path::new("/proc").join(pid.to_string()).join("stat")).map(|(own, ..)| own)
}

impl Cpu {
    /// What was used between `earlier` and `self`.
    pub(crate) fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            bench: self.bench - earlier.bench,
            exited_children: self.exited_children - earlier.exited_children,
            plugin: self.plugin - earlier.plugin,
            server: self.server - earlier.server,
        }
    }
}
