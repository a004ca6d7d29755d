//! The person at the approval page, over plain HTTP (no browser): reads the page, finds its
//! form token, and posts a decision the way the page's form does, or forges one. The browser
//! tests (`browser.rs`) do the same through Chromium.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An answer from the page's server.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status; 0 when nothing listens any more (the listener closes once no page is
    /// alive).
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// How a request to the page is dressed.
#[derive(Debug, Clone, Default)]
pub struct Dress {
    /// `Host` instead of the URL's own.
    pub host: Option<String>,
    /// `Origin`; None sends none.
    pub origin: Option<String>,
}

impl Dress {
    /// As the page's own form posts: its own host and origin.
    pub fn own(url: &str) -> Self {
        Self {
            host: None,
            origin: Some(origin(url)),
        }
    }
}

/// `http://127.0.0.1:PORT` of a page URL.
pub fn origin(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    format!("http://{}", rest.split('/').next().unwrap_or_default())
}

async fn send(method: &str, url: &str, dress: &Dress, body: Option<String>) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(host) = &dress.host {
        request = request.header(http::header::HOST, host);
    }
    if let Some(origin) = &dress.origin {
        request = request.header(http::header::ORIGIN, origin);
    }
    if body.is_some() {
        request = request.header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("a request");
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(error) if error.is_connect() => {
            return Answer {
                status: 0,
                headers: http::HeaderMap::new(),
                body: error.to_string(),
            };
        }
        Err(error) => panic!("the page answers: {error}"),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// GETs the page.
pub async fn get(url: &str, dress: &Dress) -> Answer {
    send("GET", url, dress, None).await
}

/// POSTs a decision (`approve` or `decline`) with this form token and name.
pub async fn post(url: &str, dress: &Dress, csrf: &str, decision: &str, name: &str) -> Answer {
    let form = format!(
        "csrf={}&approver={}&decision={decision}",
        encode(csrf),
        encode(name)
    );
    send("POST", url, dress, Some(form)).await
}

/// The page's form token, read from its HTML.
pub fn csrf(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("the page has a form") + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Reads the page, then approves it (or declines) as a person does.
pub async fn decide(url: &str, decision: &str, name: &str) -> Answer {
    let page = get(url, &Dress::default()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    post(url, &Dress::own(url), &csrf(&page.body), decision, name).await
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
