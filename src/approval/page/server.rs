//! The approval page's HTTP server: loopback only, one route, and the checks that keep a
//! decision a person's own.
//!
//! - `GET /approval/SECRET` shows the page; `POST` the same path records a decision and
//!   redirects back (a plain form post: it works without JavaScript). Anything else is 404.
//! - A request whose `Host` is not this listener's own `127.0.0.1:PORT` or `localhost:PORT` is
//!   refused (DNS rebinding). A decision needs the page's CSRF token (compared in constant
//!   time) and the page's own origin ([`own_origin`]).
//! - Every answer says `Cache-Control: no-store`, `Referrer-Policy: no-referrer`, and carries
//!   a Content-Security-Policy that allows nothing but the page's own inline style (by its
//!   hash) and form posts to itself, and no framing.
//!
//! The server stops when [`Pages`] finds no page alive (checked every second).

use std::time::Duration;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::view;
use super::{Decision, Pages, Rejected};
use crate::approval::form::APPROVER_CHARACTERS;
use crate::rollout::clip;

/// The server's state: the pages and the port it listens on.
#[derive(Clone)]
struct App {
    pages: Pages,
    port: u16,
}

/// Serves the pages on `listener` until `stop`, checking every second whether any page is
/// alive.
pub(super) fn spawn(
    listener: tokio::net::TcpListener,
    pages: Pages,
    port: u16,
    stop: CancellationToken,
) {
    let app = App {
        pages: pages.clone(),
        port,
    };
    let router = Router::new()
        .route("/approval/{secret}", get(show).post(decide))
        .fallback(not_found)
        .with_state(app);
    let stopped = stop.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the approval page's server stopped");
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    if !pages.reap() {
                        return;
                    }
                }
            }
        }
    });
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
pub(super) fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Whether the request's `Host` is this listener's own (a DNS-rebinding page names another).
fn own_host(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
}

/// Whether a decision comes from the page's own origin: `Origin` is the page's own, or, since
/// the page's `Referrer-Policy: no-referrer` makes browsers send `Origin: null` on its form
/// posts, `null` with the browser's own word that the request is same-origin
/// (`Sec-Fetch-Site: same-origin`, which a page elsewhere cannot make it send).
fn own_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match (text(header::HOST.as_str()), text(header::ORIGIN.as_str())) {
        (Some(host), Some(origin)) if origin == format!("http://{host}") => true,
        (Some(_), Some("null")) => text(SEC_FETCH_SITE) == Some("same-origin"),
        _ => false,
    }
}

/// The Fetch metadata header that says where a request comes from.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// An HTML answer with the headers every answer carries.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(policy) = HeaderValue::from_str(&view::content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
}

fn refused(status: StatusCode, why: &str) -> Response {
    html(status, view::notice("Refused", why))
}

async fn not_found() -> Response {
    refused(StatusCode::NOT_FOUND, "There is no approval page here.")
}

const UNKNOWN: &str = "This approval page is unknown or has expired. Nothing was written; ask the agent to request the approval again.";

async fn show(State(app): State<App>, headers: HeaderMap, Path(secret): Path<String>) -> Response {
    if !own_host(&headers, app.port) {
        return refused(
            StatusCode::FORBIDDEN,
            "This page is only served to 127.0.0.1 or localhost.",
        );
    }
    match app.pages.lookup(&secret) {
        Some(shown) => html(
            StatusCode::OK,
            view::render(&shown.view, &shown.status, &shown.csrf, shown.expires_in),
        ),
        None => refused(StatusCode::NOT_FOUND, UNKNOWN),
    }
}

/// A decision as posted.
#[derive(Debug, serde::Deserialize)]
struct Posted {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    approver: String,
    #[serde(default)]
    decision: String,
}

async fn decide(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(secret): Path<String>,
    posted: Result<Form<Posted>, FormRejection>,
) -> Response {
    if !own_host(&headers, app.port) {
        return refused(
            StatusCode::FORBIDDEN,
            "This page is only served to 127.0.0.1 or localhost.",
        );
    }
    if !own_origin(&headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "A decision must be posted from the approval page itself.",
        );
    }
    let Ok(Form(posted)) = posted else {
        return refused(StatusCode::BAD_REQUEST, "The decision form was malformed.");
    };
    let decision = match posted.decision.as_str() {
        "approve" => {
            let name = posted.approver.trim();
            Decision::Approve {
                approver: (!name.is_empty()).then(|| clip::untrusted(name, APPROVER_CHARACTERS)),
            }
        }
        "decline" => Decision::Decline,
        _ => return refused(StatusCode::BAD_REQUEST, "The decision form was malformed."),
    };
    match app.pages.decide(&secret, &posted.csrf, decision) {
        Ok(()) | Err(Rejected::AlreadyDecided) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(uri.path()) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            secure(response.headers_mut());
            response
        }
        Err(Rejected::Forged) => refused(
            StatusCode::FORBIDDEN,
            "This decision did not come from the approval page (its form token is wrong). Nothing was recorded.",
        ),
        Err(Rejected::Unknown) => refused(StatusCode::NOT_FOUND, UNKNOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", "abc"));
    }

    #[test]
    fn only_the_listeners_own_host_and_origin_count() {
        let headers = |host: &str, origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            headers
        };
        assert!(own_host(&headers("127.0.0.1:8123", None), 8123));
        assert!(own_host(&headers("localhost:8123", None), 8123));
        assert!(!own_host(&headers("evil.example:8123", None), 8123));
        assert!(!own_host(&headers("127.0.0.1:8124", None), 8123));
        assert!(own_origin(&headers(
            "127.0.0.1:8123",
            Some("http://127.0.0.1:8123")
        )));
        assert!(!own_origin(&headers("127.0.0.1:8123", None)));
        assert!(!own_origin(&headers(
            "127.0.0.1:8123",
            Some("http://evil.example")
        )));
        assert!(!own_origin(&headers("127.0.0.1:8123", Some("null"))));
        // What a browser sends for the page's own form under `Referrer-Policy: no-referrer`.
        let mut own_form = headers("127.0.0.1:8123", Some("null"));
        own_form.insert(SEC_FETCH_SITE, HeaderValue::from_static("same-origin"));
        assert!(own_origin(&own_form));
        let mut elsewhere = headers("127.0.0.1:8123", Some("null"));
        elsewhere.insert(SEC_FETCH_SITE, HeaderValue::from_static("cross-site"));
        assert!(!own_origin(&elsewhere));
    }
}
