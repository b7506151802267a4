//! The HTTP(S) server: routes, error and success answers (spec §4), statistics and TLS.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::EmulatorError;
use super::config::Config;
use super::credentials;
use super::session::{self, ApiError, IncomingRequest};

/// The largest request body read, in bytes.
const MAX_BODY: usize = 1 << 20;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen (default `127.0.0.1:0`: loopback, any free port).
    pub listen: SocketAddr,
    /// Serve HTTPS on a certificate generated at start (IP SAN 127.0.0.1, DNS SAN localhost).
    pub tls: bool,
    /// With `tls`: also write that certificate, PEM, to this file.
    pub tls_cert_out: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            tls_cert_out: None,
        }
    }
}

/// Counts of `POST /sessions` calls.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
}

/// A snapshot of the statistics served at `GET /_emulator/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// `CreateSession` calls answered 201.
    pub accepted: u64,
    /// `CreateSession` calls answered with an error.
    pub rejected: u64,
}

struct State {
    config: Config,
    counters: Counters,
    /// The secrets of every issued credential set, for tests that check a client never shows them.
    issued: std::sync::Mutex<Vec<(String, String)>>,
}

impl State {
    fn now(&self) -> i64 {
        self.config.now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0)
        })
    }

    fn stats(&self) -> Stats {
        Stats {
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
        }
    }
}

/// A running emulator. Dropping it stops the server (as [`EmulatorHandle::shutdown`] does,
/// without waiting).
pub struct EmulatorHandle {
    addr: SocketAddr,
    scheme: &'static str,
    certificate_pem: Option<String>,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The generated TLS certificate (PEM) when serving HTTPS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// The `CreateSession` counts so far.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// The secret access key and session token of every credential set issued so far, for tests
    /// that check a client never logs or prints them. In-process only; never served.
    pub fn issued_secrets(&self) -> Vec<(String, String)> {
        self.state
            .issued
            .lock()
            .map(|all| all.clone())
            .unwrap_or_default()
    }

    /// A handle on the secrets issued, which outlives this one: for tests that scan everything
    /// a client wrote for them while the emulator runs. In-process only; never served.
    pub fn issued(&self) -> IssuedSecrets {
        IssuedSecrets(self.state.clone())
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The secrets an emulator issued (see [`EmulatorHandle::issued`]).
#[derive(Clone)]
pub struct IssuedSecrets(Arc<State>);

impl std::fmt::Debug for IssuedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecrets").finish_non_exhaustive()
    }
}

impl IssuedSecrets {
    /// The secret access key and session token of every credential set issued so far.
    pub fn all(&self) -> Vec<(String, String)> {
        self.0
            .issued
            .lock()
            .map(|all| all.clone())
            .unwrap_or_default()
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Binds `options.listen` and serves `config` in the background of the current Tokio runtime.
/// Returns the bound address and the handle that controls the server.
pub async fn serve(
    config: Config,
    options: ServeOptions,
) -> Result<(SocketAddr, EmulatorHandle), EmulatorError> {
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|e| EmulatorError::Io(format!("cannot listen on {}: {e}", options.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| EmulatorError::Io(format!("no local address: {e}")))?;

    let (acceptor, certificate_pem) = if options.tls {
        let (acceptor, pem) = tls_acceptor()?;
        if let Some(path) = &options.tls_cert_out {
            std::fs::write(path, &pem).map_err(|e| {
                EmulatorError::Io(format!(
                    "cannot write the certificate to {}: {e}",
                    path.display()
                ))
            })?;
        }
        (Some(acceptor), Some(pem))
    } else {
        (None, None)
    };

    let state = Arc::new(State {
        config,
        counters: Counters::default(),
        issued: std::sync::Mutex::new(Vec::new()),
    });
    let (stop, mut stopped) = watch::channel(false);
    let loop_state = Arc::clone(&state);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.changed() => break,
            };
            let Ok((stream, _peer)) = accepted else {
                continue;
            };
            let state = Arc::clone(&loop_state);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve_connection(stream, state).await,
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls) => serve_connection(tls, state).await,
                        Err(e) => tracing::debug!("TLS handshake failed: {e}"),
                    },
                }
            });
        }
    });

    let handle = EmulatorHandle {
        addr,
        scheme: if options.tls { "https" } else { "http" },
        certificate_pem,
        state,
        stop,
        task: Some(task),
    };
    Ok((addr, handle))
}

async fn serve_connection<S>(stream: S, state: Arc<State>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(route(&state, request).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("connection ended with an error: {e}");
    }
}

async fn route(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    match (path.as_str(), request.method()) {
        ("/_emulator/stats", &Method::GET) => {
            let body = serde_json::to_vec(&state.stats()).unwrap_or_default();
            json_response(StatusCode::OK, body)
        }
        ("/sessions", &Method::POST) => {
            let request_id = credentials::request_id();
            let outcome = create_session(state, request).await;
            match outcome {
                Ok(granted) => {
                    state.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let issued = &granted.body["credentialSet"][0]["credentials"];
                    if let (Some(secret), Some(token)) = (
                        issued["secretAccessKey"].as_str(),
                        issued["sessionToken"].as_str(),
                    ) && let Ok(mut all) = state.issued.lock()
                    {
                        all.push((secret.to_owned(), token.to_owned()));
                    }
                    tracing::info!(
                        "CreateSession 201 {} request-id={request_id}",
                        granted.summary
                    );
                    let body = serde_json::to_vec(&granted.body).unwrap_or_default();
                    let mut response = json_response(StatusCode::CREATED, body);
                    set_header(&mut response, "x-amzn-RequestId", &request_id);
                    response
                }
                Err(error) => {
                    state.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        "CreateSession {} {}: {} ({}) request-id={request_id}",
                        error.status,
                        error.code,
                        error.message,
                        error.reason
                    );
                    error_response(&error, &request_id)
                }
            }
        }
        ("/sessions", method) => {
            let error = ApiError {
                status: 405,
                code: "MethodNotAllowedException",
                message: format!("{method} is not allowed on /sessions; use POST"),
                reason: "CreateSession is POST /sessions".into(),
            };
            let mut response = error_response(&error, &credentials::request_id());
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            response
        }
        (_, method) => {
            let error = ApiError {
                status: 404,
                code: "UnknownOperationException",
                message: format!("No operation matches {method} {path}"),
                reason: "the emulator serves POST /sessions and GET /_emulator/stats".into(),
            };
            error_response(&error, &credentials::request_id())
        }
    }
}

async fn create_session(
    state: &State,
    request: Request<Incoming>,
) -> Result<session::Granted, ApiError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError {
            status: 400,
            code: session::VALIDATION,
            message: "The request body could not be read".into(),
            reason: e.to_string(),
        })?
        .to_bytes();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let incoming = IncomingRequest {
        query: parts.uri.query(),
        headers: &headers,
        body: &body,
    };
    session::create_session(&state.config, &incoming, state.now())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn set_header(response: &mut Response<Full<Bytes>>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn error_response(error: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let body = json!({ "__type": error.code, "message": error.message });
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = json_response(status, serde_json::to_vec(&body).unwrap_or_default());
    set_header(&mut response, "x-amzn-ErrorType", error.code);
    set_header(&mut response, "x-amzn-RequestId", request_id);
    // Header values must be visible ASCII; the reason is ours, but keep it safe anyway.
    let reason: String = error
        .reason
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    set_header(&mut response, "x-emulator-reason", &reason);
    response
}

/// A TLS acceptor on a fresh self-signed certificate for 127.0.0.1 and localhost; returns it and
/// the certificate as PEM.
fn tls_acceptor() -> Result<(tokio_rustls::TlsAcceptor, String), EmulatorError> {
    let tls = |what: &str, e: &dyn std::fmt::Display| EmulatorError::Tls(format!("{what}: {e}"));
    let key = rcgen::KeyPair::generate().map_err(|e| tls("cannot generate a key", &e))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| tls("certificate parameters", &e))?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "test-harness roles-anywhere-emulator",
    );
    params.subject_alt_names = vec![
        rcgen::SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
        rcgen::SanType::DnsName("localhost".try_into().map_err(|e| tls("DNS name", &e))?),
    ];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .self_signed(&key)
        .map_err(|e| tls("cannot sign the certificate", &e))?;
    let pem = cert.pem();
    let cert_der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
    );
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("TLS versions", &e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .map_err(|e| tls("TLS configuration", &e))?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), pem))
}
