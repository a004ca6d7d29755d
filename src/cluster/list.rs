//! LIST requests within bounds the cluster cannot move. The cluster decides how much a LIST
//! brings: ReplicaSets of someone else's that match a workload's selector are listed with its
//! own, and 500 of them with 1.4 MiB templates are 700 MB. So:
//!
//! - one call reads at most [`MAX_LIST_BYTES`] of list responses, all its pages together; a
//!   page is read chunk by chunk into one buffer and the read stops where the bytes run out, so
//!   no page and no call holds more;
//! - one call asks for at most [`MAX_LIST_OBJECTS`] objects, all its pages together: the API
//!   server fills every page but the last, so a `continue` chain longer than that does not end;
//! - the first page is small for revisions ([`REVISION_PAGE_SIZE`]: each carries a whole pod
//!   template); each later page asks for as many objects as fit in [`PAGE_BYTES`] at the size
//!   of those read so far, at most [`PAGE_SIZE`], so ordinary objects come 500 to a request and
//!   large ones a few;
//! - a page is parsed in place, its items borrowed from the buffer: revisions read each item's
//!   owner references first and copy out only the workload's own objects
//!   (`rollout::revisions::controlled_by`);
//! - a large page is parsed off the runtime thread ([`super::body::parse`]).

use futures::AsyncBufRead;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::ListParams;
use kube::core::Request;

use super::body::{self, Capped};
use super::{Attempt, Cluster, ClusterError};

/// The most bytes of LIST responses one call reads, all its pages together.
pub const MAX_LIST_BYTES: usize = 64 << 20;
/// The most objects one call asks for (a namespace's Deployments, a workload's revisions).
pub const MAX_LIST_OBJECTS: u32 = 100_000;
/// The most objects one LIST request asks for.
pub const PAGE_SIZE: u32 = 500;
/// The objects the first page of revisions asks for: each holds a pod template (a few KiB
/// usually, up to the API server's 1.5 MiB object limit), and a page is held whole while it is
/// parsed.
pub const REVISION_PAGE_SIZE: u32 = 100;
/// The bytes a page after the first is sized to, from the size of the objects read before it.
pub const PAGE_BYTES: usize = 8 << 20;

/// The envelope of a LIST response, its items parsed as `T`: a lean type of what the caller
/// keeps, or `&RawValue`, borrowed from the page's text.
#[derive(serde::Deserialize)]
pub(super) struct ListPage<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub metadata: ListMeta,
}

/// One page as the pagination loop sees it: what the caller keeps of its items, how many items
/// it listed, and the token for the next.
pub(super) struct Page<T> {
    pub items: T,
    pub listed: usize,
    pub next: Option<String>,
}

impl<T> Page<T> {
    pub fn new(items: T, listed: usize, metadata: ListMeta) -> Self {
        Self {
            items,
            listed,
            next: metadata.continue_.filter(|token| !token.is_empty()),
        }
    }
}

/// A page parsed into a `Vec` of a lean type.
pub(super) fn items<T: serde::de::DeserializeOwned>(
    text: &[u8],
) -> serde_json::Result<Page<Vec<T>>> {
    let page: ListPage<T> = serde_json::from_slice(text)?;
    let listed = page.items.len();
    Ok(Page::new(page.items, listed, page.metadata))
}

/// How a LIST request is built from its parameters (`Request::list`, `Request::list_metadata`).
type BuildRequest =
    fn(&Request, &ListParams) -> Result<http::Request<Vec<u8>>, kube::core::request::Error>;

/// One LIST: what it asks for (for the request and for errors) and what to do when it is more
/// than a call reads.
pub(super) struct List<'a> {
    pub attempt: Attempt<'a>,
    pub path: String,
    /// The selectors and the size of the first page.
    pub params: ListParams,
    /// `Request::list`, or `Request::list_metadata` for names only.
    pub request: BuildRequest,
    /// The advice when its objects hold more than [`MAX_LIST_BYTES`].
    pub fix: &'static str,
}

/// What one call has read so far.
#[derive(Debug, Default)]
struct Read {
    bytes: usize,
    pages: u32,
    /// Objects the pages asked for.
    asked: u32,
    /// Objects they listed.
    listed: usize,
}

impl Read {
    /// The objects the next page asks for: as many as fit in [`PAGE_BYTES`] at the size of
    /// those read so far; with none read yet (empty pages), the most.
    fn next_page_size(&self) -> u32 {
        match self.bytes.checked_div(self.listed) {
            Some(average) if average > 0 => {
                (PAGE_BYTES / average).clamp(1, PAGE_SIZE as usize) as u32
            }
            _ => PAGE_SIZE,
        }
    }
}

impl List<'_> {
    /// The kubectl command that lists the same objects, for errors.
    fn kubectl(&self, context: &str) -> String {
        let mut command = format!(
            "kubectl --context {context} get {}{} -n {}",
            self.attempt.resource, self.attempt.group, self.attempt.namespace
        );
        for (flag, selector) in [
            ("-l", &self.params.label_selector),
            ("--field-selector", &self.params.field_selector),
        ] {
            if let Some(selector) = selector {
                command.push_str(&format!(" {flag} '{selector}'"));
            }
        }
        command
    }
}

impl Cluster {
    /// Reads a LIST page by page, folding each page into the result before the next is
    /// requested; the first page asks for the list's `limit`, the later ones are sized from
    /// what came before. A `continue` token that has expired (410: the API server compacted the
    /// revision the list started at) restarts the list from the beginning, once.
    pub(super) async fn paginated<T, S, P>(
        &self,
        list: List<'_>,
        parse: P,
        start: impl Fn() -> S,
        mut fold: impl FnMut(&mut S, T),
    ) -> Result<S, ClusterError>
    where
        T: Send + 'static,
        P: Fn(&[u8]) -> serde_json::Result<Page<T>> + Clone + Send + 'static,
    {
        let first = list.params.limit.unwrap_or(PAGE_SIZE);
        let mut read = Read::default();
        let mut restarted = false;
        let mut result = start();
        let mut next: Option<String> = None;
        loop {
            if read.asked >= MAX_LIST_OBJECTS {
                return Err(ClusterError::ListTooLong {
                    kubectl: list.kubectl(&self.context),
                    server: self.server.clone(),
                    pages: read.pages,
                    asked: read.asked,
                });
            }
            let limit = match &next {
                Some(_) => read.next_page_size(),
                None => first,
            };
            read.asked += limit;
            let params = list.params.clone().limit(limit);
            let params = match &next {
                Some(token) => params.continue_token(token),
                None => params,
            };
            match self.page(&list, &params, &mut read, parse.clone()).await {
                Ok(Page {
                    items,
                    listed,
                    next: token,
                }) => {
                    read.listed += listed;
                    fold(&mut result, items);
                    match token {
                        Some(token) => next = Some(token),
                        None => return Ok(result),
                    }
                }
                Err(ClusterError::Api { code: 410, .. }) if next.is_some() && !restarted => {
                    tracing::debug!(
                        resource = list.attempt.resource,
                        "the list's continue token expired; listing again from the start"
                    );
                    restarted = true;
                    result = start();
                    read = Read::default();
                    next = None;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The first page of a LIST (its `limit` says how large), parsed by `parse`.
    pub(super) async fn first_page<T, P>(
        &self,
        list: List<'_>,
        parse: P,
    ) -> Result<Page<T>, ClusterError>
    where
        T: Send + 'static,
        P: FnOnce(&[u8]) -> serde_json::Result<Page<T>> + Send + 'static,
    {
        self.page(&list, &list.params, &mut Read::default(), parse)
            .await
    }

    /// One page, read within what is left of the call's bytes, and parsed.
    async fn page<T, P>(
        &self,
        list: &List<'_>,
        params: &ListParams,
        read: &mut Read,
        parse: P,
    ) -> Result<Page<T>, ClusterError>
    where
        T: Send + 'static,
        P: FnOnce(&[u8]) -> serde_json::Result<Page<T>> + Send + 'static,
    {
        let left = MAX_LIST_BYTES - read.bytes;
        let request = (list.request)(&Request::new(&list.path), params)
            .map_err(|error| self.classify(list.attempt, kube::Error::BuildRequest(error)))?;
        let (text, capped) = self
            .run(list.attempt, async {
                let body = self.reads.request_stream(request).await?;
                futures::pin_mut!(body);
                read_within(body, left).await
            })
            .await?;
        read.bytes += text.len();
        read.pages += 1;
        if capped == Capped::Over {
            return Err(ClusterError::ListTooLarge {
                kubectl: list.kubectl(&self.context),
                server: self.server.clone(),
                read: read.bytes,
                pages: read.pages,
                fix: list.fix,
            });
        }
        body::parse(text, parse)
            .await
            .map_err(|error| self.classify(list.attempt, kube::Error::SerdeError(error)))
    }
}

/// A page's text, read to its end or until more than `left` bytes came.
async fn read_within(
    mut body: impl AsyncBufRead + Unpin,
    left: usize,
) -> Result<(Vec<u8>, Capped), kube::Error> {
    let mut text = Vec::new();
    let capped = body::read_capped(&mut body, &mut text, None, left)
        .await
        .map_err(kube::Error::ReadEvents)?;
    Ok((text, capped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_pages_are_sized_to_the_objects_read_so_far() {
        let read = |bytes, listed| Read {
            bytes,
            listed,
            ..Read::default()
        };
        assert_eq!(read(300, 0).next_page_size(), PAGE_SIZE, "none listed yet");
        assert_eq!(
            read(120_000, 100).next_page_size(),
            PAGE_SIZE,
            "1.2 KB each"
        );
        assert_eq!(read(40 << 20, 40).next_page_size(), 8, "1 MiB each");
        assert_eq!(read(60 << 20, 2).next_page_size(), 1, "at least one");
    }
}
