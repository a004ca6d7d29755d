//! The floor: the requests one `k8s_rollout_history` call sends (as the cluster's request log
//! recorded them), sent again by a minimal client over one kept-alive connection, with the same
//! kubeconfig (so the same credentials and TLS), each body read to its end and not parsed. A
//! paged LIST follows the `continue` token of the page before, found in the list's `metadata`,
//! which the API server writes before `items`.

use futures::AsyncReadExt;

/// One request as the request log has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub method: String,
    pub path: String,
    pub query: String,
}

impl Sent {
    /// The request with its `continue` value blanked, to compare two runs of the same call.
    pub fn shape(&self) -> Sent {
        let query = self
            .query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("continue", _)) => "continue=".to_string(),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        Sent {
            query,
            ..self.clone()
        }
    }
}

/// A kube client for the floor: the kubeconfig's context, kube's defaults, no retries.
pub async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let text = std::fs::read_to_string(kubeconfig).expect("the kubeconfig reads");
    let config = kube::config::Kubeconfig::from_yaml(&text).expect("the kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .expect("the kubeconfig is complete");
    config.default_retry = false;
    kube::Client::try_from(config).expect("a client")
}

/// Sends `requests` in order; returns the bytes received.
pub async fn replay(client: &kube::Client, requests: &[Sent]) -> usize {
    let mut received = 0;
    let mut token: Option<String> = None;
    for sent in requests {
        let query = match &token {
            Some(token) if sent.query.contains("continue=") => sent
                .query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("continue", _)) => format!("continue={}", encode(token)),
                    _ => pair.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&"),
            _ => sent.query.clone(),
        };
        let uri = if query.is_empty() {
            sent.path.clone()
        } else {
            format!("{}?{query}", sent.path)
        };
        let request = http::Request::builder()
            .method(sent.method.as_str())
            .uri(uri)
            .body(Vec::new())
            .expect("a request");
        let mut body = Vec::new();
        client
            .request_stream(request)
            .await
            .expect("the floor's request is answered")
            .read_to_end(&mut body)
            .await
            .expect("the floor's body is read");
        received += body.len();
        token = continue_token(&body);
    }
    received
}

/// The `continue` token in a list's leading `metadata`, if any.
fn continue_token(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(4096)];
    let head = String::from_utf8_lossy(head);
    let metadata = head.split_once("\"items\"").map_or(&*head, |(m, _)| m);
    let (_, rest) = metadata.split_once("\"continue\":\"")?;
    let token = rest.split('"').next()?;
    (!token.is_empty()).then(|| token.to_string())
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
