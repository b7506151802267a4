//! The harness's stdout. A reader that goes away (`test-harness run ... | head -1`) ends the
//! harness quietly with [`EXIT_STDOUT_CLOSED`], where `println!` would panic; every line the
//! harness prints goes through [`outln!`](crate::outln).

use std::io::Write as _;

/// Exit code when stdout was closed before the harness finished writing: 141, what a shell
/// reports for a process ended by SIGPIPE.
pub const EXIT_STDOUT_CLOSED: u8 = 141;

/// Writes `text` to stdout and flushes it. When stdout is closed, exits the process at once with
/// [`EXIT_STDOUT_CLOSED`] and no message; on another write error, says so on stderr and exits
/// with [`crate::EXIT_FAILED`]. A plugin the harness started sees its input close and ends.
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(text).and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(err) = written {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(i32::from(EXIT_STDOUT_CLOSED));
        }
        eprintln!("error: cannot write to stdout: {err}");
        std::process::exit(i32::from(crate::EXIT_FAILED));
    }
}

/// `println!` for the harness: a closed stdout ends the harness quietly (see
/// [`output::write_stdout`](crate::output::write_stdout)).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
