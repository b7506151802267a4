//! A fault-injecting HTTP/1.1 proxy for tests: it sits on loopback between an SQS client (the
//! connector's `aws-sdk-sqs`, AWS JSON 1.0 protocol) and a real SQS-compatible server such as
//! moto, forwards every request and passes the answer back, except that on a chosen fraction of
//! requests (optionally only for chosen SQS actions) it injects a [`FaultKind`]: an error answer,
//! a reset connection before or after the upstream did the work, a late answer, a cut answer, or a
//! corrupted `MD5OfBody`.
//!
//! # Running it
//!
//! ```text
//! test-harness fault-proxy --upstream http://127.0.0.1:5000 [--listen 127.0.0.1:0] \
//!     --fault KIND[:RATE][@Action1,Action2][#MAX] ... [--seed N] [--delay-ms N]
//! ```
//!
//! The first line on stdout is `listening on http://127.0.0.1:PORT`, flushed at once; the client
//! then uses that URL as its endpoint. It runs until interrupted (Ctrl-C or SIGTERM) and then
//! prints its statistics as JSON on stderr.
//!
//! In-process:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use test_harness::fault_proxy::{FaultKind, FaultProxy, FaultProxyConfig, FaultRule};
//! let mut config = FaultProxyConfig::new("http://127.0.0.1:5000");
//! config.rules = vec!["reset-after:0.25@SendMessageBatch".parse().map_err(std::io::Error::other)?];
//! config.seed = 7;
//! let proxy = FaultProxy::start(config).await?;
//! // ... point the client's endpoint at proxy.url() and run the test ...
//! assert!(proxy.stats().faults(FaultKind::ResetAfter) <= proxy.stats().forwarded());
//! proxy.set_enabled(false); // now a clean pass-through, e.g. to check the queue's contents
//! # Ok(()) }
//! ```
//!
//! # Faults
//!
//! | kind | forwarded | what the client sees |
//! |---|---|---|
//! | `internal-error` | no | HTTP 500, `x-amzn-query-error: InternalError;Receiver`, body `{"__type":"com.amazonaws.sqs#InternalError",…}` |
//! | `throttling` | no | HTTP 400, `x-amzn-query-error: RequestThrottled;Sender`, body `{"__type":"com.amazonaws.sqs#ThrottlingException",…}` |
//! | `reset-before` | no | the connection is reset (TCP RST) |
//! | `reset-after` | yes, answer read | the connection is reset; the request took effect |
//! | `delay` | yes | the answer, after [`FaultProxyConfig::delay`] (default 3 s) |
//! | `truncate` | yes | the status line, the headers with the full `Content-Length`, half the body, then end of stream |
//! | `access-denied` | no | HTTP 400, `x-amzn-query-error: AccessDenied;Sender`, body `{"__type":"com.amazon.coral.service#AccessDeniedException",…}`: a refusal (not in `FaultKind::ALL`), for least-privilege tests |
//! | `corrupt-md5` | yes | a `ReceiveMessage` answer whose first `MD5OfBody` is another well-formed digest (32 zeros, or 32 `f` if it was zeros); the same length, so `Content-Length` holds |
//!
//! A `corrupt-md5` rule that meets an answer without a digest (another action, no messages, an
//! error) passes it unchanged: that is not counted as a fault, nor against the rule's cap.
//!
//! # Choosing requests
//!
//! For each request the rules ([`FaultRule`]) are tried in order: each rule whose action filter
//! matches draws a number in `[0, 1)` from a splitmix64 generator seeded by
//! [`FaultProxyConfig::seed`], and the first whose draw is below its rate (and whose
//! `max_faults` is not reached) applies. The same requests in the same order therefore meet the
//! same faults; requests on concurrent connections draw in the order they arrive. The action is
//! the suffix of the `X-Amz-Target` header (`AmazonSQS.SendMessage` → `SendMessage`).
//! [`FaultProxy::set_enabled`]`(false)` turns every fault off (nothing is drawn meanwhile);
//! [`FaultProxy::set_rules`] replaces the rules.
//!
//! # Forwarding
//!
//! The proxy reads each request itself (request line, headers, `Content-Length` body; a request
//! with `Transfer-Encoding` is refused with 501) and keeps the client connection alive between
//! requests unless the client asks to close it. Every request goes to the upstream over a new
//! connection with `connection: close`; the client's headers are passed on unchanged apart from
//! the connection headers, `Host` included (SigV4 signs it, and moto builds queue URLs from it, so
//! they point at the proxy). The upstream's answer is read whole (`Content-Length`, chunked or
//! close-delimited) and written back as HTTP/1.1 with a `Content-Length`. When the upstream does
//! not answer, the client gets HTTP 502 with header `x-fault-proxy-error`.
//!
//! # Control endpoints
//!
//! Answered by the proxy itself, never forwarded:
//!
//! * `GET /_fault-proxy/stats`: the [`ProxyStats`] as JSON.
//! * `POST /_fault-proxy/reset`: zeroes the statistics (204). Rule caps keep their counts.
//! * `POST /_fault-proxy/disable`, `POST /_fault-proxy/enable`: as [`FaultProxy::set_enabled`] (204).

mod http;
mod rules;
mod stats;
#[cfg(test)]
mod tests;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use http::{Request, RequestError, Response, Upstream};
use rules::RuleSet;
pub use rules::{FaultKind, FaultRule, ParseRuleError};
pub use stats::{ActionStats, ProxyStats};

/// The default hold of a `delay` fault.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(3);

/// The path prefix of the proxy's own endpoints.
const CONTROL_PREFIX: &str = "/_fault-proxy/";

/// How to start a [`FaultProxy`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaultProxyConfig {
    /// The server requests are forwarded to: `http://host:port` (plain HTTP only).
    pub upstream: String,
    /// Where to listen; must be a loopback address (`127.0.0.1:0`: any free port).
    pub listen: SocketAddr,
    /// The fault rules, tried in order for each request; empty: a plain pass-through.
    pub rules: Vec<FaultRule>,
    /// The seed of the generator that draws against the rules' rates.
    pub seed: u64,
    /// How long a `delay` fault holds an answer.
    pub delay: Duration,
}

impl FaultProxyConfig {
    /// A pass-through to `upstream` on `127.0.0.1:0`, no rules, seed 0, [`DEFAULT_DELAY`].
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rules: Vec::new(),
            seed: 0,
            delay: DEFAULT_DELAY,
        }
    }
}

/// What the connection tasks share with the handle.
#[derive(Debug)]
struct Shared {
    upstream: Upstream,
    delay: Duration,
    enabled: AtomicBool,
    rules: Mutex<RuleSet>,
    stats: Mutex<ProxyStats>,
}

/// A running proxy. Dropping it stops it: no new connections are accepted and the open ones are
/// closed, also in the middle of a request.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream.to_string())
            .finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Binds `config.listen` and starts serving. Errors (`InvalidInput`) when the listen address
    /// is not loopback, the upstream is not an `http://host:port` URL, or a rule's rate is outside
    /// 0.0..=1.0; or when binding fails.
    pub async fn start(config: FaultProxyConfig) -> std::io::Result<FaultProxy> {
        if !config.listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the fault proxy listens on loopback only, not on {}",
                    config.listen
                ),
            ));
        }
        let upstream = Upstream::parse(&config.upstream)
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
        for rule in &config.rules {
            rule.validate()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            delay: config.delay,
            enabled: AtomicBool::new(true),
            rules: Mutex::new(RuleSet::new(config.rules, config.seed)),
            stats: Mutex::new(ProxyStats::default()),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, upstream = %shared.upstream, "fault proxy listening");
        Ok(FaultProxy { addr, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the endpoint for the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats.lock().clone()
    }

    /// Zeroes the counters (as `POST /_fault-proxy/reset`); rule caps keep their counts.
    pub fn reset_stats(&self) {
        *self.shared.stats.lock() = ProxyStats::default();
    }

    /// Turns all faults on or off; off, the proxy is a plain pass-through (still counting).
    pub fn set_enabled(&self, on: bool) {
        self.shared.enabled.store(on, Ordering::SeqCst);
    }

    /// Whether faults are on.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::SeqCst)
    }

    /// Replaces the rules; the new rules' caps count from zero, the generator goes on where it
    /// was. Rates above 1 act as 1; below 0 (or NaN) as 0.
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        self.shared.rules.lock().replace(rules);
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.shared.rules.lock().rules()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connection tasks here means aborting this task (dropping the proxy) ends them.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(Arc::clone(&shared), stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fault proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What to do with the client connection after a request.
enum Next {
    KeepAlive,
    /// Shut down the sending side (FIN) and drop.
    Close,
    /// Drop with a zero linger (RST).
    Reset,
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut conn = BufReader::new(stream);
    loop {
        let request = match http::read_request(&mut conn).await {
            Ok(Some(request)) => request,
            Ok(None) | Err(RequestError::Io(_)) => return,
            Err(RequestError::Refused {
                status,
                reason,
                message,
            }) => {
                let answer = proxy_error(status, reason, &message);
                let _ = answer.write_to(&mut conn, true).await;
                let _ = conn.shutdown().await;
                return;
            }
        };
        match handle(&shared, &mut conn, request).await {
            Next::KeepAlive => {}
            Next::Close => {
                let _ = conn.shutdown().await;
                return;
            }
            Next::Reset => {
                if let Err(e) = conn.get_ref().set_zero_linger() {
                    tracing::warn!(error = %e, "fault proxy: could not set SO_LINGER to zero");
                }
                return;
            }
        }
    }
}

/// An error made by the proxy itself (not an injected fault).
fn proxy_error(status: u16, reason: &str, message: &str) -> Response {
    let body = serde_json::json!({"__type": "FaultProxyError", "message": message}).to_string();
    Response::new(
        status,
        reason,
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-fault-proxy-error", &header_safe(message)),
        ],
        body,
    )
}

fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Writes `answer`; the connection's fate follows from `keep_alive` and whether writing worked.
async fn answer(conn: &mut BufReader<TcpStream>, answer: &Response, keep_alive: bool) -> Next {
    match answer.write_to(conn, !keep_alive).await {
        Ok(()) if keep_alive => Next::KeepAlive,
        _ => Next::Close,
    }
}

/// The AWS JSON 1.0 error answer of an injected `internal-error`, `throttling` or
/// `access-denied`.
fn injected_error(kind: FaultKind) -> Response {
    let (status, reason, query_error, body) = match kind {
        FaultKind::AccessDenied => (
            400,
            "Bad Request",
            "AccessDenied;Sender",
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/least-privilege is not authorized to perform this action (injected)"}"#,
        ),
        FaultKind::Throttling => (
            400,
            "Bad Request",
            "RequestThrottled;Sender",
            r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded (injected)"}"#,
        ),
        _ => (
            500,
            "Internal Server Error",
            "InternalError;Receiver",
            r#"{"__type":"com.amazonaws.sqs#InternalError","message":"injected by the fault proxy"}"#,
        ),
    };
    Response::new(
        status,
        reason,
        &[
            ("x-amzn-query-error", query_error),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amzn-requestid", "00000000-0000-4000-8000-fa017f7a0000"),
        ],
        body,
    )
}

async fn handle(shared: &Shared, conn: &mut BufReader<TcpStream>, request: Request) -> Next {
    let keep_alive = request.keep_alive();
    if request.path().starts_with(CONTROL_PREFIX) {
        let response = control(shared, &request);
        return answer(conn, &response, keep_alive).await;
    }
    let action = request.action();
    let chosen = if shared.enabled.load(Ordering::SeqCst) {
        shared.rules.lock().choose(&action)
    } else {
        None
    };
    let kind = chosen.as_ref().map(|rule| rule.rule.kind);

    if let Some(kind) = kind.filter(|k| !k.forwards()) {
        record_fault(shared, &action, kind);
        return match kind {
            FaultKind::ResetBefore => Next::Reset,
            _ => answer(conn, &injected_error(kind), keep_alive).await,
        };
    }

    shared.stats.lock().entry(&action).forwarded += 1;
    let mut response = match shared.upstream.forward(&request).await {
        Ok(response) => response,
        Err(e) => {
            if let Some(rule) = &chosen {
                rule.release();
            }
            shared.stats.lock().entry(&action).upstream_errors += 1;
            tracing::warn!(%action, error = %e, "fault proxy: the upstream did not answer");
            let message = format!("upstream {}: {e}", shared.upstream);
            return answer(conn, &proxy_error(502, "Bad Gateway", &message), keep_alive).await;
        }
    };

    match kind {
        Some(FaultKind::ResetAfter) => {
            record_fault(shared, &action, FaultKind::ResetAfter);
            Next::Reset
        }
        Some(FaultKind::Delay) => {
            record_fault(shared, &action, FaultKind::Delay);
            tokio::time::sleep(shared.delay).await;
            answer(conn, &response, keep_alive).await
        }
        Some(FaultKind::Truncate) => {
            record_fault(shared, &action, FaultKind::Truncate);
            let mut bytes = response.head_bytes(false);
            bytes.extend_from_slice(&response.body[..response.body.len() / 2]);
            let _ = conn.write_all(&bytes).await;
            let _ = conn.flush().await;
            Next::Close
        }
        Some(FaultKind::CorruptMd5) => {
            let corrupted = if action == "ReceiveMessage" && response.status == 200 {
                corrupt_first_md5(&mut response.body)
            } else {
                None
            };
            match corrupted {
                Some(message_id) => {
                    record_fault(shared, &action, FaultKind::CorruptMd5);
                    shared.stats.lock().corrupted_message_ids.push(message_id);
                }
                None => {
                    if let Some(rule) = &chosen {
                        rule.release();
                    }
                    shared.stats.lock().entry(&action).answered += 1;
                }
            }
            answer(conn, &response, keep_alive).await
        }
        _ => {
            shared.stats.lock().entry(&action).answered += 1;
            answer(conn, &response, keep_alive).await
        }
    }
}

fn record_fault(shared: &Shared, action: &str, kind: FaultKind) {
    tracing::info!(%action, fault = %kind, "fault proxy: fault injected");
    shared.stats.lock().add_fault(action, kind);
}

/// The proxy's own endpoints under [`CONTROL_PREFIX`].
fn control(shared: &Shared, request: &Request) -> Response {
    let name = &request.path()[CONTROL_PREFIX.len()..];
    let method = request.method.to_ascii_uppercase();
    let expected = match name {
        "stats" => "GET",
        "reset" | "enable" | "disable" => "POST",
        _ => {
            return proxy_error(
                404,
                "Not Found",
                &format!("no fault proxy endpoint {}", request.path()),
            );
        }
    };
    if method != expected {
        let mut response = proxy_error(
            405,
            "Method Not Allowed",
            &format!("{} takes {expected}", request.path()),
        );
        response
            .headers
            .push(("allow".to_string(), expected.to_string()));
        return response;
    }
    let no_content = || Response::new(204, "No Content", &[], Vec::new());
    match name {
        "stats" => {
            let stats = shared.stats.lock().clone();
            let body = serde_json::to_vec(&stats).unwrap_or_default();
            Response::new(200, "OK", &[("content-type", "application/json")], body)
        }
        "reset" => {
            *shared.stats.lock() = ProxyStats::default();
            no_content()
        }
        _ => {
            shared.enabled.store(name == "enable", Ordering::SeqCst);
            no_content()
        }
    }
}

/// Replaces the digest of the first `"MD5OfBody"` in a `ReceiveMessage` JSON answer with another
/// of the same length (32 zeros, or 32 `f` when it was zeros). Returns the `MessageId` of that
/// message (empty when not found), or `None` when there was no digest to change.
fn corrupt_first_md5(body: &mut [u8]) -> Option<String> {
    const KEY: &[u8] = b"\"MD5OfBody\"";
    let mut from = 0;
    while let Some(found) = find(&body[from..], KEY) {
        let key_at = from + found;
        from = key_at + 1;
        let mut i = key_at + KEY.len();
        let skip_space = |body: &[u8], mut i: usize| {
            while body.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
                i += 1;
            }
            i
        };
        i = skip_space(body, i);
        if body.get(i) != Some(&b':') {
            continue;
        }
        i = skip_space(body, i + 1);
        if body.get(i) != Some(&b'"') {
            continue;
        }
        let start = i + 1;
        let end = start + 32;
        let Some(digest) = body.get(start..end) else {
            continue;
        };
        if !digest.iter().all(u8::is_ascii_hexdigit) || body.get(end) != Some(&b'"') {
            continue;
        }
        let original = String::from_utf8_lossy(digest).into_owned();
        let message_id = message_id_of(body, &original);
        let fill = if digest.iter().all(|b| *b == b'0') {
            b'f'
        } else {
            b'0'
        };
        body[start..end].fill(fill);
        return Some(message_id);
    }
    None
}

/// The `MessageId` of the first message in `Messages` whose `MD5OfBody` is `digest`.
fn message_id_of(body: &[u8], digest: &str) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    value
        .get("Messages")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .find(|m| m.get("MD5OfBody").and_then(|d| d.as_str()) == Some(digest))
        .and_then(|m| m.get("MessageId"))
        .and_then(|id| id.as_str())
        .unwrap_or_default()
        .to_string()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `fault-proxy` subcommand: serves until Ctrl-C or SIGTERM, then prints the statistics on
/// stderr. Returns the process exit code (0 after a signal, 1 when it could not start).
pub fn run_cli(config: FaultProxyConfig) -> u8 {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    crate::block_on(async move {
        let rules: Vec<String> = config.rules.iter().map(ToString::to_string).collect();
        let proxy = match FaultProxy::start(config).await {
            Ok(proxy) => proxy,
            Err(e) => {
                eprintln!("error: {e}");
                return crate::EXIT_FAILED;
            }
        };
        crate::print_listening(proxy.url());
        tracing::info!(upstream = %proxy.shared.upstream, rules = ?rules, "fault proxy started");
        crate::wait_for_signal().await;
        let stats = serde_json::to_string(&proxy.stats()).unwrap_or_default();
        eprintln!("fault proxy stats: {stats}");
        crate::EXIT_OK
    })
}
