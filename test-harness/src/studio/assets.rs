//! The page: plain HTML, CSS and JavaScript embedded in the binary (no build step, nothing
//! fetched from elsewhere at run time).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("assets/index.html");
const STUDIO_CSS: &str = include_str!("assets/studio.css");
const STUDIO_JS: &str = include_str!("assets/studio.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /studio.css`.
pub(crate) async fn css() -> Response {
    asset(STUDIO_CSS, "text/css; charset=utf-8")
}

/// `GET /studio.js`.
pub(crate) async fn js() -> Response {
    asset(STUDIO_JS, "text/javascript; charset=utf-8")
}
