//! The bearer credential of one context, shared by its read and write clients, and the tower
//! layer that puts it on every request.
//!
//! The kubeconfig's `token`, `tokenFile` and `exec` plugin are handled here instead of by kube
//! (whose `auth_layer` ran a plugin synchronously for every client built, with the server's
//! stdin). Nothing is obtained until the first request of the context, so `initialize` is
//! never held up by a plugin; then one credential serves both clients:
//! - a `token` is sent as it is;
//! - a `tokenFile` is read again whenever the file's modification time changes (a projected
//!   ServiceAccount token is rotated by replacing the file); if it cannot be read, the last
//!   token read is kept (kubernetes#68164);
//! - an exec plugin ([`exec`](super::exec)) runs once per credential lifetime: again shortly
//!   before its `expirationTimestamp`, and after the API server refuses the token with 401.
//!
//! A 401 on a GET drops the credential, and the GET is sent once more with a fresh one (if the
//! fresh one differs: a static token is never re-sent). A 401 on any other method drops the
//! credential too, but the request is not sent again: a write is re-sent only after a human
//! approves it again. Client certificates and impersonation stay kube's (`Cluster::new` hands
//! kube a user with only those). The removed forms (`username`/`password`, `auth-provider`)
//! are refused by name.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Request, Response, StatusCode};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::client::Body;
use kube::config::AuthInfo;
use secrecy::{ExposeSecret, SecretString};
use tower::{BoxError, Layer, Service, ServiceExt};

use super::exec::{ExecError, ExecPlugin};
use super::retry;

/// How long before its `expirationTimestamp` a plugin's token is replaced.
const EXPIRY_MARGIN: SignedDuration = SignedDuration::from_secs(10);

/// Where a context's bearer token comes from.
enum Source {
    /// Client certificates only, or no credentials at all.
    None,
    Token(SecretString),
    TokenFile(PathBuf),
    Exec(Box<ExecPlugin>),
}

/// The token in use.
struct Held {
    header: HeaderValue,
    /// When a plugin's token expires.
    expires: Option<Timestamp>,
    /// The token file's modification time when it was read.
    modified: Option<SystemTime>,
    /// Changes whenever the token does: what a 401 is matched against.
    generation: u64,
    /// The API server refused it (401): the next request obtains another.
    refused: bool,
}

/// The credential of one context.
pub struct Credentials {
    context: String,
    source: Source,
    limit: Duration,
    held: tokio::sync::Mutex<Option<Held>>,
}

/// Why a context has no credential to send.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("context {context:?}: {error}")]
    Exec { context: String, error: ExecError },
    #[error(
        "context {context:?}: the user's {form} is no longer supported by kubectl or this server: {instead}"
    )]
    Removed {
        context: String,
        form: String,
        instead: &'static str,
    },
    #[error(
        "context {context:?}: cannot read the token file {path}: {detail}; check the kubeconfig's tokenFile path and its permissions"
    )]
    TokenFile {
        context: String,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "context {context:?}: the user's token (from {source_name}) holds characters an HTTP header cannot carry; check it for stray line breaks"
    )]
    NotAHeader {
        context: String,
        source_name: &'static str,
    },
}

impl Credentials {
    /// The credential of `context`'s user, checked but not yet obtained; `limit` bounds each
    /// plugin run.
    pub fn new(context: &str, user: &AuthInfo, limit: Duration) -> Result<Self, CredentialError> {
        let removed = |form: String, instead| CredentialError::Removed {
            context: context.to_string(),
            form,
            instead,
        };
        if user.username.is_some() || user.password.is_some() {
            return Err(removed(
                "username/password (basic authentication)".into(),
                "Kubernetes removed it in 1.19; use a client certificate, a token, or your provider's exec plugin",
            ));
        }
        if let Some(provider) = &user.auth_provider {
            let instead = match provider.name.as_str() {
                "gcp" => {
                    "GKE replaced it with the gke-gcloud-auth-plugin exec plugin: install it (`gcloud components install gke-gcloud-auth-plugin`) and run `gcloud container clusters get-credentials` to rewrite the kubeconfig"
                }
                "azure" => {
                    "AKS replaced it with the kubelogin exec plugin: run `kubelogin convert-kubeconfig -l azurecli` (or `az aks get-credentials` again)"
                }
                "oidc" => {
                    "use the kubelogin exec plugin (int128/kubelogin, `kubectl oidc-login setup`) in the user's exec section"
                }
                _ => "use the provider's exec credential plugin in the user's exec section",
            };
            return Err(removed(
                format!("auth-provider {:?}", provider.name),
                instead,
            ));
        }
        let source = if let Some(exec) = &user.exec {
            for key in exec.other.keys() {
                tracing::warn!(
                    context,
                    "the exec section's field {key:?} is not one kubectl knows; it is not used"
                );
            }
            Source::Exec(Box::new(ExecPlugin::new(exec).map_err(|error| {
                CredentialError::Exec {
                    context: context.to_string(),
                    error,
                }
            })?))
        } else if let Some(token) = &user.token {
            Source::Token(token.clone())
        } else if let Some(path) = &user.token_file {
            Source::TokenFile(path.into())
        } else {
            Source::None
        };
        Ok(Self {
            context: context.to_string(),
            source,
            limit,
            held: tokio::sync::Mutex::new(None),
        })
    }

    /// The user kube builds its TLS identity and impersonation headers from: everything but the
    /// bearer credential, which is ours.
    pub fn for_kube(user: &AuthInfo) -> AuthInfo {
        AuthInfo {
            client_certificate: user.client_certificate.clone(),
            client_certificate_data: user.client_certificate_data.clone(),
            client_key: user.client_key.clone(),
            client_key_data: user.client_key_data.clone(),
            impersonate: user.impersonate.clone(),
            impersonate_uid: user.impersonate_uid.clone(),
            impersonate_groups: user.impersonate_groups.clone(),
            impersonate_user_extra: user.impersonate_user_extra.clone(),
            ..AuthInfo::default()
        }
    }

    /// Whether the token can change (a 401 is worth a fresh one).
    fn refreshable(&self) -> bool {
        matches!(self.source, Source::TokenFile(_) | Source::Exec(_))
    }

    /// The `Authorization` header to send and its generation; none without a bearer token.
    /// Runs the plugin or reads the file when the held token is missing, expiring or stale.
    pub async fn header(&self) -> Result<Option<(HeaderValue, u64)>, CredentialError> {
        if matches!(self.source, Source::None) {
            return Ok(None);
        }
        let mut held = self.held.lock().await;
        let modified = match &self.source {
            Source::TokenFile(path) => tokio::fs::metadata(path)
                .await
                .and_then(|meta| meta.modified())
                .ok(),
            _ => None,
        };
        let fresh = held.as_ref().is_some_and(|current| {
            !current.refused
                && match &self.source {
                    Source::TokenFile(_) => modified.is_none() || current.modified == modified,
                    _ => current
                        .expires
                        .is_none_or(|expires| Timestamp::now() + EXPIRY_MARGIN < expires),
                }
        });
        if !fresh {
            let Some((token, expires)) = self.obtain(held.as_ref()).await? else {
                if let Some(current) = held.as_mut() {
                    current.modified = modified;
                }
                return Ok(held.as_ref().map(|c| (c.header.clone(), c.generation)));
            };
            let header = bearer(&token).map_err(|()| CredentialError::NotAHeader {
                context: self.context.clone(),
                source_name: self.source_name(),
            })?;
            let generation = match held.as_ref() {
                Some(previous) if previous.header == header => previous.generation,
                Some(previous) => previous.generation + 1,
                None => 0,
            };
            *held = Some(Held {
                header,
                expires,
                modified,
                generation,
                refused: false,
            });
        }
        Ok(held
            .as_ref()
            .map(|current| (current.header.clone(), current.generation)))
    }

    /// A new token from the source and its expiry; none to keep `held`, the token in use (a
    /// token file that cannot be read again).
    async fn obtain(
        &self,
        held: Option<&Held>,
    ) -> Result<Option<(SecretString, Option<Timestamp>)>, CredentialError> {
        match &self.source {
            Source::None => Ok(None),
            Source::Token(token) => Ok(Some((token.clone(), None))),
            Source::TokenFile(path) => match tokio::fs::read_to_string(path).await {
                Ok(text) => Ok(Some((SecretString::from(text.trim().to_string()), None))),
                Err(error) if held.is_some() => {
                    tracing::warn!(context = %self.context, path = %path.display(), %error, "cannot read the token file again; keeping the token read before");
                    Ok(None)
                }
                Err(error) => Err(CredentialError::TokenFile {
                    context: self.context.clone(),
                    path: path.clone(),
                    detail: error.to_string(),
                }),
            },
            Source::Exec(plugin) => {
                tracing::info!(context = %self.context, command = %plugin.command(), "running the exec credential plugin");
                let token =
                    plugin
                        .run(self.limit)
                        .await
                        .map_err(|error| CredentialError::Exec {
                            context: self.context.clone(),
                            error,
                        })?;
                Ok(Some((token.token, token.expires)))
            }
        }
    }

    /// The API server refused the token of `generation` with 401: if it is still the one
    /// held, the next request obtains a fresh one (kept meanwhile, to tell the fresh one apart).
    pub async fn rejected(&self, generation: u64) {
        if !self.refreshable() {
            return;
        }
        let mut held = self.held.lock().await;
        if let Some(current) = held.as_mut().filter(|c| c.generation == generation) {
            tracing::info!(context = %self.context, "the API server refused the credential (401); obtaining a fresh one");
            current.refused = true;
        }
    }

    fn source_name(&self) -> &'static str {
        match self.source {
            Source::None => "nowhere",
            Source::Token(_) => "the kubeconfig's token",
            Source::TokenFile(_) => "the token file",
            Source::Exec(_) => "the exec plugin",
        }
    }
}

/// `Bearer <token>`, marked sensitive (kept out of debug output).
fn bearer(token: &SecretString) -> Result<HeaderValue, ()> {
    let mut value =
        HeaderValue::try_from(format!("Bearer {}", token.expose_secret().trim())).map_err(drop)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Puts the context's credential on every request (in place of kube's `auth_layer`).
#[derive(Clone)]
pub struct AuthorizeLayer(pub Arc<Credentials>);

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize {
            inner,
            credentials: self.0.clone(),
        }
    }
}

/// See [`AuthorizeLayer`].
#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    credentials: Arc<Credentials>,
}

impl<S, B> Service<Request<Body>> for Authorize<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone that was made ready is the one called; the copy serves the next request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let credentials = self.credentials.clone();
        Box::pin(async move {
            let used = authorize(&credentials, &mut request).await?;
            let again = retry::copy_read(&request);
            let response = inner.call(request).await.map_err(Into::into)?;
            let Some(used) = used.filter(|_| response.status() == StatusCode::UNAUTHORIZED) else {
                return Ok(response);
            };
            credentials.rejected(used).await;
            let Some(mut again) = again else {
                return Ok(response);
            };
            if authorize(&credentials, &mut again).await? == Some(used) {
                return Ok(response);
            }
            tracing::debug!(uri = %again.uri(), "retrying a read once with a fresh credential");
            inner
                .ready()
                .await
                .map_err(Into::into)?
                .call(again)
                .await
                .map_err(Into::into)
        })
    }
}

/// Sets the `Authorization` header; the generation of the credential sent.
async fn authorize(
    credentials: &Credentials,
    request: &mut Request<Body>,
) -> Result<Option<u64>, BoxError> {
    Ok(credentials.header().await?.map(|(header, generation)| {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, header);
        generation
    }))
}
