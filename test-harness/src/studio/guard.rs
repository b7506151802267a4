//! Who may talk to the studio: requests for its own address only (a page of another site that
//! renamed its host to 127.0.0.1, DNS rebinding, is refused), changes only as JSON from its own
//! origin (a form of another site cannot post them), and headers that keep the page to itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The hosts and origin the studio answers.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    /// `Host` header values that name the studio (`127.0.0.1:7480`, `localhost:7480`).
    hosts: Vec<String>,
    /// Any host is accepted (`--allow-remote`).
    any_host: bool,
}

impl Guard {
    /// The guard of a studio bound to `addr`.
    pub(crate) fn new(addr: SocketAddr, allow_remote: bool) -> Self {
        let port = addr.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        let own = match addr {
            SocketAddr::V4(v4) => format!("{}:{port}", v4.ip()),
            SocketAddr::V6(v6) => format!("[{}]:{port}", v6.ip()),
        };
        if !hosts.contains(&own) {
            hosts.push(own);
        }
        Self {
            hosts,
            any_host: allow_remote,
        }
    }

    fn host_allowed(&self, headers: &HeaderMap) -> Option<String> {
        let host = headers
            .get(header::HOST)?
            .to_str()
            .ok()?
            .to_ascii_lowercase();
        (self.any_host || self.hosts.contains(&host)).then_some(host)
    }
}

/// The middleware: refuses requests for another host and cross-origin changes, and adds the
/// page's security headers to every answer.
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(host) = guard.host_allowed(request.headers()) else {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this is the connector studio on loopback: open it at the address it printed",
        );
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let own = format!("http://{host}");
            if origin.as_bytes() != own.as_bytes() {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "changes are taken from the studio's own page only",
                );
            }
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
