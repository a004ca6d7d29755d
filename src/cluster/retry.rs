//! Bounded retries for reads, and none for writes.
//!
//! kube's own retry layer (`Config::default_retry`) re-sends *any* request on 429, 503 and 504,
//! a PATCH included: a write that committed before its 504 would be sent again with a stale
//! resourceVersion. [`crate::cluster::Cluster`] therefore turns it off for both of its clients
//! and puts this policy on the read client only. It retries a GET (reads, lists, the start of a
//! watch) that got 429, 503 or 504 or lost its connection, at most [`MAX_RETRIES`] times, waiting
//! what the server's `Retry-After` asks (or a short doubling backoff) as long as the waiting
//! stays within the request time limit; any other method is never retried, whichever client
//! it goes through.

use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy;

/// The most retries one read gets.
pub const MAX_RETRIES: u32 = 3;
/// The wait before the first retry; it doubles for each one after.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Why a read failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFailure {
    /// An HTTP answer; `retry_after` is the server's `Retry-After` in seconds, if any.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed or was reset.
    Transport,
}

/// The retry policy of the read client: one value per request (tower clones it for each).
#[derive(Debug, Clone)]
pub struct ReadRetry {
    /// The total time a request may spend waiting between attempts.
    budget: Duration,
    retries: u32,
    waited: Duration,
}

impl ReadRetry {
    /// A policy that waits at most `budget` in total (the request time limit).
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            retries: 0,
            waited: Duration::ZERO,
        }
    }

    /// How long to wait before retrying after `failure`, or None to give up and return it: not
    /// a transient failure, out of retries, or a wait that would not fit in the budget (a
    /// `Retry-After` longer than the time left is answered at once rather than slept through).
    pub fn delay(&self, failure: ReadFailure) -> Option<Duration> {
        let backoff = FIRST_BACKOFF * 2u32.saturating_pow(self.retries);
        let delay = match failure {
            ReadFailure::Status {
                code: 429 | 503 | 504,
                retry_after,
            } => retry_after.map_or(backoff, |asked| asked.max(backoff)),
            ReadFailure::Status { .. } => return None,
            ReadFailure::Transport => backoff,
        };
        (self.retries < MAX_RETRIES && self.waited + delay < self.budget).then_some(delay)
    }
}

/// `Retry-After` in seconds (the form the API server sends).
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let seconds = response.headers().get(http::header::RETRY_AFTER)?;
    seconds
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for ReadRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        if request.method() != Method::GET {
            return None;
        }
        let failure = match result {
            Ok(response) if response.status().is_success() => return None,
            Ok(response) => ReadFailure::Status {
                code: response.status().as_u16(),
                retry_after: retry_after(response),
            },
            Err(_) => ReadFailure::Transport,
        };
        let delay = self.delay(failure)?;
        self.retries += 1;
        self.waited += delay;
        tracing::debug!(
            uri = %request.uri(),
            ?failure,
            ?delay,
            retry = self.retries,
            "retrying a read"
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        copy_read(request)
    }
}

/// A copy of a GET to send again; none for any other method (a write is not even copied).
pub fn copy_read(request: &Request<Body>) -> Option<Request<Body>> {
    if request.method() != Method::GET {
        return None;
    }
    let mut copy = Request::builder()
        .method(Method::GET)
        .uri(request.uri().clone())
        .version(request.version())
        .body(request.body().try_clone()?)
        .ok()?;
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> ReadFailure {
        ReadFailure::Status {
            code,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn transient_failures_are_retried_with_a_doubling_backoff() {
        let mut policy = ReadRetry::new(Duration::from_secs(30));
        for (retry, expected) in [50, 100, 200].into_iter().enumerate() {
            for failure in [status(429, None), status(503, None), ReadFailure::Transport] {
                assert_eq!(
                    policy.delay(failure),
                    Some(Duration::from_millis(expected)),
                    "retry {retry}"
                );
            }
            policy.retries += 1;
        }
        assert_eq!(
            policy.delay(status(503, None)),
            None,
            "at most three retries"
        );
    }

    #[test]
    fn other_answers_are_returned_at_once() {
        let policy = ReadRetry::new(Duration::from_secs(30));
        for code in [400, 403, 404, 409, 410, 422, 500] {
            assert_eq!(policy.delay(status(code, None)), None, "{code}");
        }
    }

    #[test]
    fn retry_after_is_honoured_within_the_budget_and_not_beyond() {
        let policy = ReadRetry::new(Duration::from_secs(30));
        assert_eq!(
            policy.delay(status(429, Some(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.delay(status(429, Some(60))),
            None,
            "a wait past the request time limit is not slept through"
        );
        let mut spent = ReadRetry::new(Duration::from_secs(3));
        spent.waited = Duration::from_secs(2);
        assert_eq!(spent.delay(status(504, Some(1))), None);
    }
}
