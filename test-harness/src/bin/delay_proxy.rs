//! A TCP proxy that holds every chunk of bytes for a fixed time in each direction, so a client
//! sees the upstream server through a round trip of twice that time; run by `scripts/bench.sh`
//! for the benchmark's latency-bound scenario when the kernel has no `netem` qdisc.
//!
//! `delay-proxy LISTEN_ADDR UPSTREAM_ADDR ONE_WAY_MICROS`
//!
//! Each direction of a connection is a reader thread and a writer thread: the reader stamps what
//! it read with its due time and queues it, the writer sleeps until that time and writes it. So
//! the delay is added once per chunk, not per call, and does not limit the bandwidth (as netem's
//! `delay` does not). Blocking threads, not a runtime: `thread::sleep` has microsecond
//! precision, Tokio's timer a millisecond.

// STYLE: code that is not a test does not panic on a value it did not check.
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, micros] = args.as_slice() else {
        eprintln!("usage: delay-proxy LISTEN_ADDR UPSTREAM_ADDR ONE_WAY_MICROS");
        return ExitCode::FAILURE;
    };
    let Ok(micros) = micros.parse::<u64>() else {
        eprintln!("delay-proxy: {micros:?} is not a number of microseconds");
        return ExitCode::FAILURE;
    };
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("delay-proxy: binding {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let delay = Duration::from_micros(micros);
    for client in listener.incoming().flatten() {
        let upstream = upstream.clone();
        thread::spawn(move || {
            if let Err(e) = relay(client, &upstream, delay) {
                eprintln!("delay-proxy: connection to {upstream}: {e}");
            }
        });
    }
    ExitCode::SUCCESS
}

/// Connects to `upstream` and relays both ways with `delay`, until both sides closed.
fn relay(client: TcpStream, upstream: &str, delay: Duration) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let back = {
        let (from, to) = (server.try_clone()?, client.try_clone()?);
        thread::spawn(move || one_way(from, to, delay))
    };
    one_way(client, server, delay);
    let _ = back.join();
    Ok(())
}

/// Bytes read from `from` are written to `to` `delay` after they were read; `from`'s end of
/// stream becomes a write shutdown of `to`, as late.
fn one_way(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    // `None` is the end of the stream.
    let (queue, due) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let writer = thread::spawn(move || {
        for (at, chunk) in due {
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            match chunk {
                Some(bytes) if to.write_all(&bytes).is_ok() => {}
                _ => break,
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let chunk = match from.read(&mut buffer) {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(buffer[..n].to_vec()),
        };
        let end = chunk.is_none();
        if queue.send((Instant::now() + delay, chunk)).is_err() || end {
            break;
        }
    }
    drop(queue);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}
