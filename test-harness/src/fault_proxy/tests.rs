//! The proxy against a tiny upstream started in each test, seen through a raw TCP client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const FIRST_ID: &str = "11111111-aaaa-4aaa-8aaa-000000000001";
const SECOND_ID: &str = "22222222-bbbb-4bbb-8bbb-000000000002";
const FIRST_MD5: &str = "5d41402abc4b2a76b9719d911017c592";
const SECOND_MD5: &str = "7d793037a0760186574b0282f2f435e7";

/// A `ReceiveMessage` answer with two messages, in moto's style (spaces after `:`).
fn receive_body() -> String {
    format!(
        r#"{{"Messages": [{{"MessageId": "{FIRST_ID}", "ReceiptHandle": "rh-1", "MD5OfBody": "{FIRST_MD5}", "Body": "hello"}}, {{"MessageId": "{SECOND_ID}", "ReceiptHandle": "rh-2", "MD5OfBody": "{SECOND_MD5}", "Body": "world"}}]}}"#
    )
}

fn other_body(action: &str) -> String {
    format!(r#"{{"ok": true, "action": "{action}", "padding": "0123456789abcdef"}}"#)
}

/// The upstream: hyper's server, answering by `X-Amz-Target`, counting requests and keeping the
/// headers of the last one.
struct Upstream {
    url: String,
    count: Arc<AtomicUsize>,
    last_headers: Arc<parking_lot::Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn last_header(&self, name: &str) -> Option<String> {
        self.last_headers
            .lock()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let last_headers = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (count2, headers2) = (Arc::clone(&count), Arc::clone(&last_headers));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (count, headers) = (Arc::clone(&count2), Arc::clone(&headers2));
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (count, headers) = (Arc::clone(&count), Arc::clone(&headers));
                    async move {
                        count.fetch_add(1, Ordering::SeqCst);
                        *headers.lock() = request
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (n.to_string(), v.to_str().unwrap_or_default().to_string())
                            })
                            .collect();
                        let target = request
                            .headers()
                            .get("x-amz-target")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let answer = match target.as_str() {
                            "AmazonSQS.ReceiveMessage" if body.as_ref() == b"{\"empty\":true}" => {
                                "{}".to_string()
                            }
                            "AmazonSQS.ReceiveMessage" => receive_body(),
                            other => other_body(other.rsplit('.').next().unwrap_or_default()),
                        };
                        let response = hyper::Response::builder()
                            .header("content-type", "application/x-amz-json-1.0")
                            .header("x-amzn-requestid", "upstream-request")
                            .body(Full::new(Bytes::from(answer)))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        url: format!("http://{addr}"),
        count,
        last_headers,
        task,
    }
}

/// An upstream that answers every connection with `canned` (after reading the request head and
/// its `Content-Length` body), then closes.
async fn canned_upstream(canned: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                let mut stream = reader.into_inner();
                stream.write_all(canned).await.unwrap();
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

async fn proxy_with(upstream: &str, rules: &[&str]) -> FaultProxy {
    let mut config = FaultProxyConfig::new(upstream);
    config.rules = rules.iter().map(|r| r.parse().unwrap()).collect();
    config.seed = 42;
    config.delay = Duration::from_millis(200);
    FaultProxy::start(config).await.unwrap()
}

/// An answer as the raw client saw it.
#[derive(Debug)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    /// The `Content-Length` the answer declared.
    declared: usize,
    /// The body bytes that arrived (fewer than `declared` when the stream ended early).
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// A raw HTTP/1.1 client on one connection, with its own small answer reader.
struct Client {
    conn: BufReader<TcpStream>,
    host: String,
}

impl Client {
    async fn connect(proxy: &FaultProxy) -> Client {
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        Client {
            conn: BufReader::new(stream),
            host: proxy.addr().to_string(),
        }
    }

    async fn raw(
        &mut self,
        method: &str,
        path: &str,
        extra: &str,
        body: &str,
    ) -> std::io::Result<Seen> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.conn.get_mut().write_all(request.as_bytes()).await?;
        self.read_answer().await
    }

    /// An SQS call: `POST /` with `X-Amz-Target: AmazonSQS.<action>`.
    async fn call(&mut self, action: &str, body: &str) -> std::io::Result<Seen> {
        let extra = format!(
            "X-Amz-Target: AmazonSQS.{action}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        );
        self.raw("POST", "/", &extra, body).await
    }

    async fn read_answer(&mut self) -> std::io::Result<Seen> {
        let mut status_line = String::new();
        if self.conn.read_line(&mut status_line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.conn.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let declared: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = Vec::new();
        (&mut self.conn)
            .take(declared as u64)
            .read_to_end(&mut body)
            .await?;
        Ok(Seen {
            status,
            headers,
            declared,
            body,
        })
    }

    /// Whether the proxy closed the connection (EOF or reset on the next read).
    async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.conn.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}

async fn one_call(proxy: &FaultProxy, action: &str) -> std::io::Result<Seen> {
    Client::connect(proxy).await.call(action, "{}").await
}

#[test]
fn parses_rules() {
    let rule: FaultRule = "reset-after:0.25@SendMessageBatch".parse().unwrap();
    assert_eq!(
        rule,
        FaultRule::new(FaultKind::ResetAfter, 0.25).for_actions(["SendMessageBatch"])
    );
    let rule: FaultRule = "throttling".parse().unwrap();
    assert_eq!(rule, FaultRule::new(FaultKind::Throttling, 1.0));
    let rule: FaultRule = " internal-error:0.5#3 ".parse().unwrap();
    assert_eq!(
        rule,
        FaultRule::new(FaultKind::InternalError, 0.5).with_max_faults(3)
    );
    let rule: FaultRule = "delay@AmazonSQS.SendMessage,ReceiveMessage#1"
        .parse()
        .unwrap();
    assert_eq!(rule.kind, FaultKind::Delay);
    assert_eq!(rule.rate, 1.0);
    assert_eq!(rule.actions, ["SendMessage", "ReceiveMessage"]);
    assert_eq!(rule.max_faults, Some(1));
    assert!(rule.matches("sendmessage") && !rule.matches("DeleteMessage"));
    for kind in FaultKind::ALL {
        assert_eq!(kind.to_string().parse::<FaultKind>().unwrap(), kind);
        let rule = FaultRule::new(kind, 0.125)
            .for_actions(["A", "B"])
            .with_max_faults(9);
        assert_eq!(rule.to_string().parse::<FaultRule>().unwrap(), rule);
    }
    for bad in [
        "nope",
        "delay:2",
        "delay:-0.1",
        "delay:x",
        "delay:NaN",
        "delay@",
        "delay@A,",
        "delay#x",
        "",
    ] {
        let err = bad.parse::<FaultRule>().unwrap_err();
        assert!(!err.to_string().is_empty(), "{bad:?}");
    }
    assert!(
        "nope"
            .parse::<FaultKind>()
            .unwrap_err()
            .to_string()
            .contains("corrupt-md5")
    );
}

#[tokio::test]
async fn refuses_a_listen_address_off_loopback_and_a_bad_upstream() {
    let mut config = FaultProxyConfig::new("http://127.0.0.1:9");
    config.listen = "0.0.0.0:0".parse().unwrap();
    let err = FaultProxy::start(config).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("loopback"), "{err}");

    for bad in [
        "https://127.0.0.1:9",
        "127.0.0.1:9",
        "http://127.0.0.1:9/queue",
        "http://:9",
        "http://h:x",
    ] {
        let err = FaultProxy::start(FaultProxyConfig::new(bad))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
    let mut config = FaultProxyConfig::new("http://127.0.0.1:9");
    config.rules = vec![FaultRule::new(FaultKind::Delay, 1.5)];
    assert!(FaultProxy::start(config).await.is_err());

    let mut config = FaultProxyConfig::new("http://localhost:9/");
    config.listen = "[::1]:0".parse().unwrap();
    // IPv6 loopback is accepted where the machine has it.
    if let Ok(proxy) = FaultProxy::start(config).await {
        assert!(proxy.url().starts_with("http://[::1]:"));
    }
}

#[tokio::test]
async fn passes_through_and_keeps_the_client_connection_alive() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &[]).await;
    let mut client = Client::connect(&proxy).await;
    for action in ["SendMessage", "DeleteMessage"] {
        let seen = client.call(action, r#"{"QueueUrl":"q"}"#).await.unwrap();
        assert_eq!(seen.status, 200);
        assert_eq!(seen.text(), other_body(action));
        assert_eq!(seen.header("x-amzn-requestid"), Some("upstream-request"));
        assert_eq!(seen.header("connection"), None);
    }
    assert_eq!(up.requests(), 2);
    // The upstream gets the client's Host and a connection of its own.
    assert_eq!(up.last_header("host"), Some(proxy.addr().to_string()));
    assert_eq!(up.last_header("connection").as_deref(), Some("close"));
    assert_eq!(
        up.last_header("x-amz-target").as_deref(),
        Some("AmazonSQS.DeleteMessage")
    );

    // A client that asks to close gets `connection: close` and a closed connection.
    let seen = client
        .raw(
            "POST",
            "/",
            "X-Amz-Target: AmazonSQS.SendMessage\r\nConnection: close\r\n",
            "{}",
        )
        .await
        .unwrap();
    assert_eq!(seen.header("connection"), Some("close"));
    assert!(client.closed().await);

    let stats = proxy.stats();
    assert_eq!(stats.action("SendMessage").forwarded, 2);
    assert_eq!(stats.action("SendMessage").answered, 2);
    assert_eq!(stats.action("DeleteMessage").answered, 1);
    assert_eq!(
        (stats.forwarded(), stats.answered(), stats.total_faults()),
        (3, 3, 0)
    );
}

#[tokio::test]
async fn internal_error_is_answered_by_the_proxy() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["internal-error"]).await;
    let mut client = Client::connect(&proxy).await;
    let seen = client.call("SendMessage", "{}").await.unwrap();
    assert_eq!(seen.status, 500);
    assert_eq!(
        seen.header("x-amzn-query-error"),
        Some("InternalError;Receiver")
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(
        seen.text(),
        r#"{"__type":"com.amazonaws.sqs#InternalError","message":"injected by the fault proxy"}"#
    );
    assert_eq!(up.requests(), 0);
    // The connection stays usable.
    proxy.set_enabled(false);
    assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 200);
    let stats = proxy.stats();
    assert_eq!(stats.faults(FaultKind::InternalError), 1);
    assert_eq!(stats.action("SendMessage").forwarded, 1);
}

#[tokio::test]
async fn throttling_is_answered_by_the_proxy() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["throttling"]).await;
    let seen = one_call(&proxy, "SendMessageBatch").await.unwrap();
    assert_eq!(seen.status, 400);
    assert_eq!(
        seen.header("x-amzn-query-error"),
        Some("RequestThrottled;Sender")
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(
        seen.text(),
        r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded (injected)"}"#
    );
    assert_eq!(up.requests(), 0);
    assert_eq!(
        proxy.stats().action("SendMessageBatch").faults["throttling"],
        1
    );
}

#[tokio::test]
async fn reset_before_resets_without_forwarding() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["reset-before"]).await;
    let err = one_call(&proxy, "SendMessage").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert_eq!(up.requests(), 0);
    let stats = proxy.stats();
    assert_eq!(stats.faults(FaultKind::ResetBefore), 1);
    assert_eq!(stats.forwarded(), 0);
}

#[tokio::test]
async fn reset_after_forwards_then_resets() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["reset-after"]).await;
    let err = one_call(&proxy, "SendMessage").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert_eq!(up.requests(), 1);
    let stats = proxy.stats();
    assert_eq!(stats.faults(FaultKind::ResetAfter), 1);
    assert_eq!((stats.forwarded(), stats.answered()), (1, 0));
}

#[tokio::test]
async fn delay_holds_the_answer() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["delay@SendMessage"]).await;
    let mut client = Client::connect(&proxy).await;
    let started = Instant::now();
    let seen = client.call("SendMessage", "{}").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(seen.text(), other_body("SendMessage"));
    assert_eq!(up.requests(), 1);
    // Kept alive; another action is not delayed.
    let started = Instant::now();
    assert_eq!(client.call("ListQueues", "{}").await.unwrap().status, 200);
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(proxy.stats().faults(FaultKind::Delay), 1);
}

#[tokio::test]
async fn truncate_sends_half_the_body_then_closes() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["truncate"]).await;
    let mut client = Client::connect(&proxy).await;
    let seen = client.call("SendMessage", "{}").await.unwrap();
    let full = other_body("SendMessage");
    assert_eq!(seen.status, 200);
    assert_eq!(seen.declared, full.len());
    assert_eq!(seen.body, full.as_bytes()[..full.len() / 2]);
    assert!(client.closed().await);
    assert_eq!(up.requests(), 1);
    assert_eq!(proxy.stats().faults(FaultKind::Truncate), 1);
}

#[tokio::test]
async fn corrupt_md5_changes_only_the_first_digest() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["corrupt-md5"]).await;
    let mut client = Client::connect(&proxy).await;
    let seen = client.call("ReceiveMessage", "{}").await.unwrap();
    let expected = receive_body().replacen(FIRST_MD5, &"0".repeat(32), 1);
    assert_eq!(seen.text(), expected);
    assert_eq!(seen.declared, receive_body().len());
    assert!(seen.text().contains(SECOND_MD5));

    // Nothing to corrupt: unchanged, not counted as a fault.
    let seen = client
        .call("ReceiveMessage", r#"{"empty":true}"#)
        .await
        .unwrap();
    assert_eq!(seen.text(), "{}");
    let seen = client.call("SendMessage", "{}").await.unwrap();
    assert_eq!(seen.text(), other_body("SendMessage"));

    let stats = proxy.stats();
    assert_eq!(stats.faults(FaultKind::CorruptMd5), 1);
    assert_eq!(stats.corrupted_message_ids, [FIRST_ID]);
    assert_eq!(stats.action("ReceiveMessage").answered, 1);
    assert_eq!(stats.action("SendMessage").answered, 1);
    assert_eq!(up.requests(), 3);
}

#[test]
fn corrupt_md5_picks_a_different_digest_and_skips_lookalikes() {
    let zeros = "0".repeat(32);
    let mut body = format!(
        r#"{{"Messages":[{{"MessageAttributes":{{"MD5OfBody":{{"StringValue":"x"}}}},"Body":"say \"MD5OfBody\": \"{FIRST_MD5}\"","MessageId":"m1","MD5OfBody" :  "{zeros}"}}]}}"#
    )
    .into_bytes();
    let before = body.clone();
    assert_eq!(corrupt_first_md5(&mut body).as_deref(), Some("m1"));
    let after = String::from_utf8(body).unwrap();
    assert_eq!(after.len(), before.len());
    assert!(after.ends_with(&format!(r#""MD5OfBody" :  "{}"}}]}}"#, "f".repeat(32))));
    assert!(
        after.contains(FIRST_MD5),
        "the escaped look-alike in the body stays"
    );

    let mut short = br#"{"Messages":[{"MD5OfBody":"abc"}]}"#.to_vec();
    assert_eq!(corrupt_first_md5(&mut short), None);
}

#[tokio::test]
async fn rate_zero_never_faults_and_rate_one_always_does() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["internal-error:0"]).await;
    let mut client = Client::connect(&proxy).await;
    for _ in 0..40 {
        assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 200);
    }
    assert_eq!(proxy.stats().total_faults(), 0);

    proxy.set_rules(vec!["internal-error:1".parse().unwrap()]);
    for _ in 0..40 {
        assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 500);
    }
    assert_eq!(proxy.stats().faults(FaultKind::InternalError), 40);
    assert_eq!(up.requests(), 40);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let up = upstream().await;
    let mut patterns = Vec::new();
    for _ in 0..2 {
        let proxy = proxy_with(&up.url, &["throttling:0.5"]).await;
        let mut client = Client::connect(&proxy).await;
        let mut pattern = Vec::new();
        for _ in 0..64 {
            pattern.push(client.call("SendMessage", "{}").await.unwrap().status == 400);
        }
        patterns.push(pattern);
    }
    assert_eq!(patterns[0], patterns[1]);
    let faults = patterns[0].iter().filter(|f| **f).count();
    assert!((16..=48).contains(&faults), "{faults} of 64 at rate 0.5");
}

#[tokio::test]
async fn action_filter_and_rule_order() {
    let up = upstream().await;
    let proxy = proxy_with(
        &up.url,
        &[
            "internal-error@SendMessageBatch",
            "throttling@DeleteMessage",
        ],
    )
    .await;
    let mut client = Client::connect(&proxy).await;
    assert_eq!(
        client.call("SendMessageBatch", "{}").await.unwrap().status,
        500
    );
    assert_eq!(
        client.call("DeleteMessage", "{}").await.unwrap().status,
        400
    );
    assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 200);
    assert_eq!(
        client.call("ReceiveMessage", "{}").await.unwrap().status,
        200
    );
    let stats = proxy.stats();
    assert_eq!(stats.action("SendMessageBatch").faults["internal-error"], 1);
    assert_eq!(stats.action("DeleteMessage").faults["throttling"], 1);
    assert_eq!(stats.total_faults(), 2);
    assert_eq!(up.requests(), 2);
}

#[tokio::test]
async fn max_faults_caps_a_rule() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["internal-error#2", "throttling:1@ListQueues#1"]).await;
    let mut client = Client::connect(&proxy).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(client.call("ListQueues", "{}").await.unwrap().status);
    }
    assert_eq!(statuses, [500, 500, 400, 200]);
    assert_eq!(proxy.stats().total_faults(), 3);
}

#[tokio::test]
async fn set_enabled_false_turns_faults_off() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["reset-before"]).await;
    assert!(proxy.is_enabled());
    proxy.set_enabled(false);
    assert!(!proxy.is_enabled());
    assert_eq!(one_call(&proxy, "SendMessage").await.unwrap().status, 200);
    proxy.set_enabled(true);
    assert!(one_call(&proxy, "SendMessage").await.is_err());
    assert_eq!(up.requests(), 1);
    assert_eq!(
        proxy.rules(),
        vec!["reset-before".parse::<FaultRule>().unwrap()]
    );
}

#[tokio::test]
async fn stats_reset_and_switch_endpoints() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &["throttling@SendMessage"]).await;
    let mut client = Client::connect(&proxy).await;
    client.call("SendMessage", "{}").await.unwrap();
    client.call("ReceiveMessage", "{}").await.unwrap();

    let seen = client
        .raw("GET", "/_fault-proxy/stats", "", "")
        .await
        .unwrap();
    assert_eq!(seen.status, 200);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(json["actions"]["SendMessage"]["faults"]["throttling"], 1);
    assert_eq!(json["actions"]["ReceiveMessage"]["forwarded"], 1);
    assert_eq!(json["actions"]["ReceiveMessage"]["answered"], 1);
    assert_eq!(json["actions"]["ReceiveMessage"]["upstreamErrors"], 0);
    assert_eq!(json["corruptedMessageIds"], serde_json::json!([]));
    let parsed: ProxyStats = serde_json::from_value(json).unwrap();
    assert_eq!(parsed, proxy.stats());

    assert_eq!(
        client
            .raw("POST", "/_fault-proxy/disable", "", "")
            .await
            .unwrap()
            .status,
        204
    );
    assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 200);
    assert_eq!(
        client
            .raw("POST", "/_fault-proxy/enable", "", "")
            .await
            .unwrap()
            .status,
        204
    );
    assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 400);

    assert_eq!(
        client
            .raw("POST", "/_fault-proxy/reset", "", "")
            .await
            .unwrap()
            .status,
        204
    );
    assert_eq!(proxy.stats(), ProxyStats::default());
    assert_eq!(
        client
            .raw("POST", "/_fault-proxy/stats", "", "")
            .await
            .unwrap()
            .status,
        405
    );
    assert_eq!(
        client
            .raw("GET", "/_fault-proxy/nothing", "", "")
            .await
            .unwrap()
            .status,
        404
    );
    // None of the control requests reached the upstream.
    assert_eq!(up.requests(), 2);
}

#[tokio::test]
async fn reads_chunked_and_close_delimited_upstream_answers() {
    let chunked = canned_upstream(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kept: yes\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    )
    .await;
    let proxy = proxy_with(&chunked, &[]).await;
    let seen = one_call(&proxy, "SendMessage").await.unwrap();
    assert_eq!((seen.status, seen.text().as_str()), (200, "hello world"));
    assert_eq!(seen.header("transfer-encoding"), None);
    assert_eq!(seen.header("x-kept"), Some("yes"));
    assert_eq!(seen.declared, 11);

    let close_delimited =
        canned_upstream(b"HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\nuntil the end").await;
    let proxy = proxy_with(&close_delimited, &[]).await;
    let mut client = Client::connect(&proxy).await;
    let seen = client.call("SendMessage", "{}").await.unwrap();
    assert_eq!((seen.status, seen.text().as_str()), (404, "until the end"));
    assert_eq!(
        seen.header("connection"),
        None,
        "the client connection stays alive"
    );
    assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 404);
}

#[tokio::test]
async fn refuses_chunked_requests_and_reports_a_missing_upstream() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &[]).await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 501 "), "{answer}");
    assert!(answer.contains("Content-Length"), "{answer}");
    assert_eq!(up.requests(), 0);

    // A port nobody listens on: bind one, note it, close it.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = proxy_with(&format!("http://{dead}"), &["reset-after"]).await;
    let seen = one_call(&proxy, "SendMessage").await.unwrap();
    assert_eq!(seen.status, 502);
    assert!(seen.header("x-fault-proxy-error").is_some());
    let stats = proxy.stats();
    assert_eq!(stats.action("SendMessage").upstream_errors, 1);
    assert_eq!(stats.total_faults(), 0);
}

#[tokio::test]
async fn dropping_the_proxy_stops_it() {
    let up = upstream().await;
    let proxy = proxy_with(&up.url, &[]).await;
    let addr: SocketAddr = proxy.addr();
    let mut client = Client::connect(&proxy).await;
    assert_eq!(client.call("SendMessage", "{}").await.unwrap().status, 200);
    drop(proxy);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client.closed().await, "open connections end");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// How `aws-sdk-sqs` (standard retries, 4 attempts) meets each fault once: it retries every kind
/// but `corrupt-md5`, which it does not notice (it checks no digest); the retries of the kinds that
/// forward reach the upstream a second time.
#[tokio::test]
async fn aws_sdk_retries_each_fault_once() {
    use aws_sdk_sqs::config::retry::RetryConfig;
    use aws_sdk_sqs::config::timeout::TimeoutConfig;
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};

    let up = upstream().await;
    let mut config = FaultProxyConfig::new(&up.url);
    // Long enough for the attempt timeout below, which leaves room for a slow machine.
    config.delay = Duration::from_millis(1000);
    let proxy = FaultProxy::start(config).await.unwrap();
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(400))
                .build(),
        )
        .endpoint_url(proxy.url())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(conf);
    for kind in FaultKind::ALL {
        proxy.set_rules(vec![FaultRule::new(kind, 1.0).with_max_faults(1)]);
        let before = up.requests();
        if kind == FaultKind::CorruptMd5 {
            let out = client
                .receive_message()
                .queue_url("q")
                .send()
                .await
                .unwrap();
            let digests: Vec<_> = out
                .messages()
                .iter()
                .map(|m| m.md5_of_body().unwrap_or_default())
                .collect();
            assert_eq!(digests, ["0".repeat(32).as_str(), SECOND_MD5]);
            assert_eq!(up.requests() - before, 1);
        } else {
            let sent = client
                .send_message()
                .queue_url("q")
                .message_body("x")
                .send()
                .await;
            assert!(sent.is_ok(), "{kind}: {sent:?}");
            let expected = if kind.forwards() { 2 } else { 1 };
            assert_eq!(up.requests() - before, expected, "{kind}");
        }
    }
    let stats = proxy.stats();
    for kind in FaultKind::ALL {
        assert_eq!(stats.faults(kind), 1, "{kind}");
    }
    // The SDK signed `Host` with the proxy's address; the upstream got it unchanged.
    assert_eq!(up.last_header("host"), Some(proxy.addr().to_string()));
}
