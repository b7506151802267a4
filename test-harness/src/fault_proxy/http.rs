//! A minimal HTTP/1.1 reader and writer: requests from the client (request line, headers,
//! `Content-Length` body), answers from the upstream (`Content-Length`, chunked or
//! close-delimited), and the forwarding of one request over a fresh upstream connection.

use std::io;
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;

/// The longest request or status line plus headers, in bytes.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request or answer body, in bytes (an SQS batch is at most a few MiB).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long an upstream may take to answer one request (a `ReceiveMessage` long poll is at most
/// 20 s).
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers that describe one connection, never passed on (RFC 9110 §7.6.1), plus the framing
/// headers the proxy writes itself.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
];

/// A request read from the client, body included.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    /// `HTTP/1.0` rather than `HTTP/1.1`.
    pub(crate) http10: bool,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The client sent a `Content-Length` header.
    had_length: bool,
}

impl Request {
    /// The first value of header `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The path of the target, without query.
    pub(crate) fn path(&self) -> &str {
        let target = self.target.as_str();
        // Absolute form (`http://host/path`): keep the path.
        let target = match target.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => target,
        };
        target.split(['?', '#']).next().unwrap_or(target)
    }

    /// The SQS action: the `X-Amz-Target` suffix (`AmazonSQS.SendMessage` → `SendMessage`), or
    /// the `Action` of a query-protocol form body, or `(unknown)`.
    pub(crate) fn action(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            let name = target.rsplit('.').next().unwrap_or(target).trim();
            if !name.is_empty() {
                return name.to_string();
            }
        }
        let form = self
            .header("content-type")
            .is_some_and(|t| t.contains("x-www-form-urlencoded"));
        if form {
            let body = String::from_utf8_lossy(&self.body);
            for pair in body.split('&') {
                if let Some(value) = pair.strip_prefix("Action=") {
                    if !value.is_empty() {
                        return value.to_string();
                    }
                }
            }
        }
        "(unknown)".to_string()
    }

    /// Whether the client wants the connection kept after this request.
    pub(crate) fn keep_alive(&self) -> bool {
        let tokens = connection_tokens(&self.headers);
        if self.http10 {
            tokens.iter().any(|t| t == "keep-alive")
        } else {
            !tokens.iter().any(|t| t == "close")
        }
    }

    /// The bytes sent upstream: the same request over a connection of its own (`connection:
    /// close`), without the client's connection headers. `Host` is passed on as the client sent
    /// it (SigV4 signs it), or set to `authority` when missing.
    fn to_upstream_bytes(&self, authority: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", self.method, self.target).as_bytes());
        let named = connection_tokens(&self.headers);
        for (name, value) in &self.headers {
            if is_hop_by_hop(name, &named) {
                continue;
            }
            push_header(&mut out, name, value);
        }
        if self.header("host").is_none() {
            push_header(&mut out, "host", authority);
        }
        if self.had_length || !self.body.is_empty() {
            push_header(&mut out, "content-length", &self.body.len().to_string());
        }
        push_header(&mut out, "connection", "close");
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// An answer: from the upstream, or made by the proxy.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// An answer that has no body by its nature (to `HEAD`, 204, 304): its headers keep the
    /// upstream's `Content-Length`.
    bodyless: bool,
}

impl Response {
    /// An answer made by the proxy.
    pub(crate) fn new(
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            status,
            reason: reason.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                .collect(),
            body: body.into(),
            bodyless: false,
        }
    }

    /// The status line and headers as sent to the client: always `HTTP/1.1` (the proxy owns the
    /// client connection), the upstream's headers without its connection headers, a
    /// `Content-Length` for the whole body, and `connection: close` when `close`.
    pub(crate) fn head_bytes(&self, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).as_bytes());
        let named = connection_tokens(&self.headers);
        for (name, value) in &self.headers {
            let keep_length = self.bodyless && name.eq_ignore_ascii_case("content-length");
            if is_hop_by_hop(name, &named) && !keep_length {
                continue;
            }
            push_header(&mut out, name, value);
        }
        if !self.bodyless {
            push_header(&mut out, "content-length", &self.body.len().to_string());
        }
        if close {
            push_header(&mut out, "connection", "close");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Writes the whole answer.
    pub(crate) async fn write_to<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        close: bool,
    ) -> io::Result<()> {
        let mut bytes = self.head_bytes(close);
        bytes.extend_from_slice(&self.body);
        out.write_all(&bytes).await?;
        out.flush().await
    }
}

/// Why no request could be read from the client.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// Reading failed (the client went away in the middle, or reset).
    Io(io::Error),
    /// The request is not acceptable: answer this status and close.
    Refused {
        status: u16,
        reason: &'static str,
        message: String,
    },
}

impl From<io::Error> for RequestError {
    fn from(e: io::Error) -> Self {
        RequestError::Io(e)
    }
}

fn refused(status: u16, reason: &'static str, message: impl Into<String>) -> RequestError {
    RequestError::Refused {
        status,
        reason,
        message: message.into(),
    }
}

/// Reads the next request from the client connection; `Ok(None)` when the client closed it
/// cleanly between requests. Answers `Expect: 100-continue` before reading the body. Refuses
/// `Transfer-Encoding` bodies (501), since the SDK always sends `Content-Length`.
pub(crate) async fn read_request<S>(conn: &mut S) -> Result<Option<Request>, RequestError>
where
    S: AsyncBufRead + AsyncWrite + Unpin,
{
    let Some(lines) = read_head(conn).await? else {
        return Ok(None);
    };
    let (start, header_lines) = lines.split_first().ok_or_else(|| {
        // read_head returns at least the start line.
        refused(400, "Bad Request", "empty request")
    })?;
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused(
            400,
            "Bad Request",
            format!("malformed request line {start:?}"),
        ));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        other => {
            return Err(refused(
                505,
                "HTTP Version Not Supported",
                format!("unsupported version {other:?}"),
            ));
        }
    };
    if method.is_empty() || target.is_empty() {
        return Err(refused(
            400,
            "Bad Request",
            format!("malformed request line {start:?}"),
        ));
    }
    let headers = parse_headers(header_lines).map_err(|m| refused(400, "Bad Request", m))?;
    if header(&headers, "transfer-encoding").is_some() {
        return Err(refused(
            501,
            "Not Implemented",
            "the fault proxy does not read Transfer-Encoding (chunked) request bodies; send \
             Content-Length",
        ));
    }
    let length = content_length(&headers).map_err(|m| refused(400, "Bad Request", m))?;
    let had_length = length.is_some();
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(refused(
            413,
            "Content Too Large",
            format!("request body of {length} bytes is over the limit of {MAX_BODY}"),
        ));
    }
    let expects_continue =
        header(&headers, "expect").is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    if expects_continue && !http10 && length > 0 {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        conn.flush().await?;
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await?;
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        http10,
        headers,
        body,
        had_length,
    }))
}

/// Reads lines up to the empty line that ends a head; `Ok(None)` on EOF before the first byte.
/// Empty lines before the start line are skipped. The returned lines have no line ends.
async fn read_head<R: AsyncBufRead + Unpin>(
    r: &mut R,
) -> Result<Option<Vec<String>>, RequestError> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *r)
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            if lines.is_empty() && total == 0 {
                return Ok(None);
            }
            return Err(RequestError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a message head",
            )));
        }
        total += n;
        if total > MAX_HEAD {
            return Err(refused(
                431,
                "Request Header Fields Too Large",
                format!("message head over {MAX_HEAD} bytes"),
            ));
        }
        if line.last() != Some(&b'\n') {
            return Err(RequestError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a message head",
            )));
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            return Ok(Some(lines));
        }
        let text = String::from_utf8(std::mem::take(&mut line))
            .map_err(|_| refused(400, "Bad Request", "a message head that is not UTF-8"))?;
        lines.push(text);
    }
}

fn parse_headers(lines: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::with_capacity(lines.len());
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err("obsolete header line folding is not accepted".to_string());
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(format!("malformed header name {name:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The `Content-Length`, if any; several that disagree, or one that is not a number, are errors.
fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, String> {
    let mut found: Option<usize> = None;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for part in value.split(',') {
            let n = part
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("malformed Content-Length {value:?}"))?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting Content-Length headers".to_string());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// The lower-cased tokens of every `Connection` header.
fn connection_tokens(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, named_by_connection: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || named_by_connection
            .iter()
            .any(|t| t.eq_ignore_ascii_case(name))
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The upstream server: `http://host[:port][/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upstream {
    /// The host to connect to, without IPv6 brackets.
    host: String,
    port: u16,
    /// `host:port` as written in the URL (brackets kept), for a missing `Host` header.
    authority: String,
}

impl Upstream {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(format!(
                "upstream {url:?}: the fault proxy speaks plain HTTP only, not https"
            ));
        }
        if !lower.starts_with("http://") {
            return Err(format!("upstream {url:?} is not an http://host:port URL"));
        }
        let rest = &url["http://".len()..];
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !(path.is_empty() || path == "/") {
            return Err(format!(
                "upstream {url:?}: only a server is accepted (http://host:port), not a path, \
                 query or fragment"
            ));
        }
        if authority.contains('@') {
            return Err(format!(
                "upstream {url:?}: user information is not accepted"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("upstream {url:?}: unclosed '[' in the host"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("upstream {url:?}: malformed port"))?,
                ),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("upstream {url:?} has no host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("upstream {url:?}: malformed port {p:?}"))?,
        };
        Ok(Self {
            host: host.to_string(),
            port,
            authority: authority.to_string(),
        })
    }

    /// Sends `request` over a new connection and reads the whole answer, within
    /// [`UPSTREAM_TIMEOUT`].
    pub(crate) async fn forward(&self, request: &Request) -> io::Result<Response> {
        let exchange = async {
            let mut stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
            let _ = stream.set_nodelay(true);
            stream
                .write_all(&request.to_upstream_bytes(&self.authority))
                .await?;
            stream.flush().await?;
            let mut reader = BufReader::new(stream);
            read_response(&mut reader, request.method.eq_ignore_ascii_case("HEAD")).await
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {} s", UPSTREAM_TIMEOUT.as_secs()),
            )),
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn head_error(e: RequestError) -> io::Error {
    match e {
        RequestError::Io(e) => e,
        RequestError::Refused { message, .. } => invalid(message),
    }
}

/// Reads one answer (skipping interim 1xx answers): `Content-Length`, chunked (decoded) or
/// close-delimited bodies.
pub(crate) async fn read_response<R: AsyncBufRead + Unpin>(
    r: &mut R,
    head_request: bool,
) -> io::Result<Response> {
    loop {
        let lines = read_head(r)
            .await
            .map_err(head_error)?
            .ok_or_else(|| invalid("the upstream closed the connection without answering"))?;
        let (start, header_lines) = lines
            .split_first()
            .ok_or_else(|| invalid("an empty answer head"))?;
        let mut parts = start.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status = parts.next().unwrap_or_default();
        let reason = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!("malformed status line {start:?}")));
        }
        let status: u16 = status
            .parse()
            .ok()
            .filter(|s| (100..=999).contains(s))
            .ok_or_else(|| invalid(format!("malformed status line {start:?}")))?;
        let headers = parse_headers(header_lines).map_err(invalid)?;
        if (100..200).contains(&status) {
            if status == 101 {
                return Err(invalid("the upstream switched protocols"));
            }
            continue;
        }
        let bodyless = head_request || status == 204 || status == 304;
        let body = if bodyless {
            Vec::new()
        } else if header(&headers, "transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            read_chunked(r).await?
        } else if let Some(length) = content_length(&headers).map_err(invalid)? {
            if length > MAX_BODY {
                return Err(invalid(format!("an answer body of {length} bytes")));
            }
            let mut body = vec![0; length];
            r.read_exact(&mut body).await?;
            body
        } else {
            let mut body = Vec::new();
            (&mut *r)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body)
                .await?;
            if body.len() > MAX_BODY {
                return Err(invalid("an answer body over the limit"));
            }
            body
        };
        return Ok(Response {
            status,
            reason,
            headers,
            body,
            bodyless,
        });
    }
}

async fn read_chunked<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        (&mut *r).take(4096).read_until(b'\n', &mut line).await?;
        if line.last() != Some(&b'\n') {
            return Err(invalid("a malformed or cut chunk size line"));
        }
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("a malformed chunk size {size_text:?}")))?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("a chunked answer body over the limit"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).await?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).await?;
        if &crlf != b"\r\n" {
            return Err(invalid("a chunk not followed by CRLF"));
        }
    }
    // Trailers, up to the empty line; dropped.
    loop {
        line.clear();
        (&mut *r)
            .take(MAX_HEAD as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if line.last() != Some(&b'\n') {
            return Err(invalid("a cut chunked trailer"));
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(body);
        }
    }
}
