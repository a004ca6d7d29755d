//! The approval page: the server's own page in the user's browser, where a person sees the
//! whole plan and approves or declines it. For every host that cannot show a form (Claude
//! Desktop, Gemini CLI, ...), and for operators who want a decision no client hook can make.
//!
//! - **One page per approval**, at `http://127.0.0.1:PORT/approval/SECRET` where `SECRET` holds
//!   256 random bits. It is bound to the exact plan (the [`ApprovalBinding`] the 2026-07-28
//!   sealed state uses), expires with the approval timeout, and is single use: one call takes
//!   its approval ([`OpenPage::decision`]) and writes at most once.
//! - **At most one page per workload**: a different plan for the same workload supersedes the
//!   open page, which then says so. The same plan asked again (a host gave up on a call and
//!   repeats it) resumes the page that is already open instead of opening another.
//! - **The listener** (loopback, a random port, [`server`]) starts on first need and closes
//!   when no page is alive.
//! - After the decision the page shows the outcome (written, refused, unknown) in place of the
//!   buttons, also on reload ([`Pages::finish`]).
//!
//! The URL is a secret: it never reaches a tool result, the audit log or a log line above
//! debug. Pages are keyed by the secret's SHA-256, so looking one up compares digests, not
//! secrets; the CSRF token is compared in constant time ([`server`]).

pub mod server;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::state::ApprovalBinding;
use view::PageView;

/// Where a page stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStatus {
    /// Waiting for the person.
    Open,
    /// Approved on the page, not yet taken by a call.
    Approved { approver: Option<String> },
    /// Declined on the page.
    Declined,
    /// A call took the approval and is writing.
    Writing { approver: Option<String> },
    /// The undo's outcome, as the result tells it.
    Done { written: bool, outcome: String },
    /// A different plan for the same workload replaced this page.
    Superseded,
}

/// What a call waiting on a page learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageDecision {
    /// Approved, and taken by this call: write once.
    Approved {
        approver: Option<String>,
    },
    Declined,
    /// The page expired without a decision.
    Expired,
    /// The call was cancelled; the page stays open for the same call made again.
    Cancelled,
    /// A different plan replaced the page.
    Superseded,
    /// Another call took the approval (or already finished with it).
    Taken,
}

/// The page could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("no randomness for the approval page: {0}")]
    Random(#[from] getrandom::Error),
    #[error("cannot listen on 127.0.0.1 for the approval page: {0}")]
    Listen(#[from] std::io::Error),
}

/// The approval pages of this server.
#[derive(Clone)]
pub struct Pages {
    shared: Arc<Shared>,
    ttl: Duration,
}

struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    listener: Option<Listener>,
    /// By the SHA-256 of the URL's secret.
    pages: HashMap<[u8; 32], Page>,
}

struct Listener {
    port: u16,
    stop: CancellationToken,
}

struct Page {
    /// A public id: the 2026-07-28 state and URL-mode elicitation name the page by it.
    id: String,
    /// The page's address (with its secret), for a call that resumes it.
    url: String,
    csrf: String,
    workload: String,
    binding: ApprovalBinding,
    view: Arc<PageView>,
    expires: Instant,
    status: watch::Sender<PageStatus>,
}

/// A page a call waits on.
pub struct OpenPage {
    pub id: String,
    /// The page's address. A secret: for the person's browser only.
    pub url: String,
    /// Whether the page was already open (the same plan asked again).
    pub resumed: bool,
    key: [u8; 32],
    status: watch::Receiver<PageStatus>,
    expires: Instant,
    pages: Pages,
}

impl Pages {
    /// Pages that expire `ttl` after they open.
    pub fn new(ttl: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
            }),
            ttl,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The page for `binding` on `workload` (`context/namespace/kind/name`): the one already
    /// open for exactly this plan, else a new one, which supersedes any other page of the
    /// workload. Starts the listener when none runs.
    pub fn open(
        &self,
        workload: &str,
        binding: &ApprovalBinding,
        view: PageView,
    ) -> Result<OpenPage, PageError> {
        let now = Instant::now();
        let mut state = self.state();
        state.pages.retain(|_, page| page.expires > now);
        let resumable = |page: &Page| {
            page.workload == workload
                && page.binding == *binding
                && matches!(
                    *page.status.borrow(),
                    PageStatus::Open | PageStatus::Approved { .. } | PageStatus::Declined
                )
        };
        if let Some((key, page)) = state.pages.iter().find(|(_, page)| resumable(page)) {
            return Ok(page.handle(*key, true, self));
        }
        for page in state
            .pages
            .values()
            .filter(|page| page.workload == workload)
        {
            page.status.send_if_modified(|status| {
                let open = matches!(
                    status,
                    PageStatus::Open | PageStatus::Approved { .. } | PageStatus::Declined
                );
                if open {
                    *status = PageStatus::Superseded;
                }
                open
            });
        }
        let port = match &state.listener {
            Some(listener) => listener.port,
            None => {
                let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
                listener.set_nonblocking(true)?;
                let port = listener.local_addr()?.port();
                let stop = CancellationToken::new();
                server::spawn(
                    tokio::net::TcpListener::from_std(listener)?,
                    self.clone(),
                    port,
                    stop.clone(),
                );
                state.listener = Some(Listener { port, stop });
                port
            }
        };
        let secret = random_token()?;
        let key = digest(&secret);
        let page = Page {
            id: hex(&random_bytes::<16>()?),
            url: format!("http://127.0.0.1:{port}/approval/{secret}"),
            csrf: random_token()?,
            workload: workload.to_string(),
            binding: binding.clone(),
            view: Arc::new(view),
            expires: now + self.ttl,
            status: watch::channel(PageStatus::Open).0,
        };
        let opened = page.handle(key, false, self);
        state.pages.insert(key, page);
        Ok(opened)
    }

    /// The page `id`, if it is alive and bound to `binding` (a 2026-07-28 retry names the page
    /// its first round opened).
    pub fn find(&self, id: &str, binding: &ApprovalBinding) -> Option<OpenPage> {
        let now = Instant::now();
        let state = self.state();
        let (key, page) = state
            .pages
            .iter()
            .find(|(_, page)| page.id == id && page.expires > now && page.binding == *binding)?;
        Some(page.handle(*key, true, self))
    }

    /// Shows the undo's outcome on the page the approval came from.
    pub fn finish(&self, id: &str, written: bool, outcome: String) {
        let state = self.state();
        if let Some(page) = state.pages.values().find(|page| page.id == id) {
            page.status
                .send_replace(PageStatus::Done { written, outcome });
        }
    }

    /// Drops expired pages; stops the listener when none is left. Returns whether it runs on.
    fn reap(&self) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        state.pages.retain(|_, page| page.expires > now);
        if state.pages.is_empty()
            && let Some(listener) = state.listener.take()
        {
            listener.stop.cancel();
            return false;
        }
        state.listener.is_some()
    }

    /// What the page at `secret` shows, if it is alive: its view, status, CSRF token and
    /// expiry.
    fn lookup(&self, secret: &str) -> Option<Shown> {
        let now = Instant::now();
        let state = self.state();
        let page = state
            .pages
            .get(&digest(secret))
            .filter(|page| page.expires > now)?;
        Some(Shown {
            view: page.view.clone(),
            status: page.status.borrow().clone(),
            csrf: page.csrf.clone(),
            expires_in: page.expires - now,
        })
    }

    /// Records a person's decision on the page at `secret`, if it is alive, open and the CSRF
    /// token is its own; the status it has afterwards, or why not.
    fn decide(&self, secret: &str, csrf: &str, decision: Decision) -> Result<(), Rejected> {
        let now = Instant::now();
        let state = self.state();
        let page = state
            .pages
            .get(&digest(secret))
            .filter(|page| page.expires > now)
            .ok_or(Rejected::Unknown)?;
        if !server::same_token(csrf, &page.csrf) {
            return Err(Rejected::Forged);
        }
        let decided = page.status.send_if_modified(|status| {
            if *status != PageStatus::Open {
                return false;
            }
            *status = match &decision {
                Decision::Approve { approver } => PageStatus::Approved {
                    approver: approver.clone(),
                },
                Decision::Decline => PageStatus::Declined,
            };
            true
        });
        if decided {
            Ok(())
        } else {
            Err(Rejected::AlreadyDecided)
        }
    }

    /// Moves an approved page to writing, for one call only.
    fn take(&self, key: &[u8; 32]) -> Option<Option<String>> {
        let state = self.state();
        let page = state.pages.get(key)?;
        let mut taken = None;
        page.status.send_if_modified(|status| match status {
            PageStatus::Approved { approver } => {
                taken = Some(approver.clone());
                *status = PageStatus::Writing {
                    approver: approver.clone(),
                };
                true
            }
            _ => false,
        });
        taken
    }

    /// Marks a declined page done: the decline is on the record once.
    fn close_declined(&self, key: &[u8; 32]) {
        let state = self.state();
        if let Some(page) = state.pages.get(key) {
            page.status.send_if_modified(|status| {
                let declined = *status == PageStatus::Declined;
                if declined {
                    *status = PageStatus::Done {
                        written: false,
                        outcome: "Declined. Nothing was written.".into(),
                    };
                }
                declined
            });
        }
    }
}

/// A page as served.
struct Shown {
    view: Arc<PageView>,
    status: PageStatus,
    csrf: String,
    expires_in: Duration,
}

/// A decision posted on a page.
enum Decision {
    Approve { approver: Option<String> },
    Decline,
}

/// Why a posted decision was not recorded. Each means nothing changes.
#[derive(Debug, PartialEq, Eq)]
enum Rejected {
    /// No live page at that address (never was, expired, or closed).
    Unknown,
    /// The CSRF token is not the page's.
    Forged,
    /// The page was already decided (a replayed POST).
    AlreadyDecided,
}

impl Page {
    /// A handle for a call that waits on this page.
    fn handle(&self, key: [u8; 32], resumed: bool, pages: &Pages) -> OpenPage {
        OpenPage {
            id: self.id.clone(),
            url: self.url.clone(),
            resumed,
            key,
            status: self.status.subscribe(),
            expires: self.expires,
            pages: pages.clone(),
        }
    }
}

impl OpenPage {
    /// Waits for the person's decision until the page expires or `cancelled` fires, or for
    /// `every` to pass ([`PageWait::Waiting`], with the time left). An approval is taken for
    /// this call only; a decline is recorded once.
    pub async fn next(&mut self, cancelled: &CancellationToken, every: Duration) -> PageWait {
        let expires = tokio::time::Instant::from_std(self.expires);
        let give_up = tokio::time::sleep(every);
        tokio::pin!(give_up);
        loop {
            let status = self.status.borrow_and_update().clone();
            let decided = match status {
                PageStatus::Open => None,
                PageStatus::Approved { .. } => Some(match self.pages.take(&self.key) {
                    Some(approver) => PageDecision::Approved { approver },
                    None => PageDecision::Taken,
                }),
                PageStatus::Declined => {
                    self.pages.close_declined(&self.key);
                    Some(PageDecision::Declined)
                }
                PageStatus::Writing { .. } | PageStatus::Done { .. } => Some(PageDecision::Taken),
                PageStatus::Superseded => Some(PageDecision::Superseded),
            };
            if let Some(decision) = decided {
                return PageWait::Decided(decision);
            }
            tokio::select! {
                changed = self.status.changed() => {
                    if changed.is_err() {
                        return PageWait::Decided(PageDecision::Expired);
                    }
                }
                () = tokio::time::sleep_until(expires) => {
                    return PageWait::Decided(PageDecision::Expired);
                }
                () = cancelled.cancelled() => return PageWait::Decided(PageDecision::Cancelled),
                () = &mut give_up => {
                    let left = expires.saturating_duration_since(tokio::time::Instant::now());
                    return PageWait::Waiting(left);
                }
            }
        }
    }
}

/// What [`OpenPage::next`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageWait {
    Decided(PageDecision),
    /// Still undecided; the time left.
    Waiting(Duration),
}

/// 256 random bits, URL-safe base64 without padding.
fn random_token() -> Result<String, getrandom::Error> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(target: i64) -> ApprovalBinding {
        ApprovalBinding {
            context: "prod".into(),
            namespace: "shop".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: "u".into(),
            shown_resource_version: "1".into(),
            state_digest: "s".into(),
            target_revision: target,
            template_digest: "t".into(),
            patch_digest: "p".into(),
            reason_digest: "r".into(),
        }
    }

    fn secret(page: &OpenPage) -> String {
        page.url.rsplit('/').next().unwrap().to_string()
    }

    async fn next(page: &mut OpenPage) -> PageWait {
        page.next(&CancellationToken::new(), Duration::from_secs(60))
            .await
    }

    #[tokio::test]
    async fn an_approval_is_taken_once_and_the_same_plan_resumes_its_page() {
        let pages = Pages::new(Duration::from_secs(60));
        let mut first = pages
            .open("prod/shop/deployment/web", &binding(1), PageView::default())
            .unwrap();
        assert!(!first.resumed && first.url.starts_with("http://127.0.0.1:"));
        let mut again = pages
            .open("prod/shop/deployment/web", &binding(1), PageView::default())
            .unwrap();
        assert!(again.resumed);
        assert_eq!((&again.id, &again.url), (&first.id, &first.url));
        let csrf = pages.lookup(&secret(&first)).unwrap().csrf;
        assert_eq!(
            pages.decide(&secret(&first), "forged", Decision::Decline),
            Err(Rejected::Forged)
        );
        let approve = Decision::Approve {
            approver: Some("jane".into()),
        };
        assert_eq!(pages.decide(&secret(&first), &csrf, approve), Ok(()));
        assert_eq!(
            pages.decide(&secret(&first), &csrf, Decision::Decline),
            Err(Rejected::AlreadyDecided),
            "a replayed post changes nothing"
        );
        assert_eq!(
            next(&mut first).await,
            PageWait::Decided(PageDecision::Approved {
                approver: Some("jane".into())
            })
        );
        assert_eq!(
            next(&mut again).await,
            PageWait::Decided(PageDecision::Taken)
        );
        pages.finish(&first.id, true, "Written: x".into());
        assert_eq!(
            pages.lookup(&secret(&first)).unwrap().status,
            PageStatus::Done {
                written: true,
                outcome: "Written: x".into()
            }
        );
    }

    #[tokio::test]
    async fn another_plan_for_the_workload_supersedes_the_page() {
        let pages = Pages::new(Duration::from_secs(60));
        let mut first = pages
            .open("prod/shop/deployment/web", &binding(1), PageView::default())
            .unwrap();
        let second = pages
            .open("prod/shop/deployment/web", &binding(2), PageView::default())
            .unwrap();
        assert!(!second.resumed && second.url != first.url);
        assert_eq!(
            next(&mut first).await,
            PageWait::Decided(PageDecision::Superseded)
        );
        let other = pages
            .open("prod/shop/deployment/api", &binding(1), PageView::default())
            .unwrap();
        assert!(!other.resumed, "another workload's page is its own");
    }

    #[tokio::test]
    async fn a_page_expires_undecided_and_then_is_unknown() {
        let pages = Pages::new(Duration::from_millis(50));
        let mut page = pages
            .open("prod/shop/deployment/web", &binding(1), PageView::default())
            .unwrap();
        assert_eq!(
            next(&mut page).await,
            PageWait::Decided(PageDecision::Expired)
        );
        assert!(pages.lookup(&secret(&page)).is_none());
        assert!(!pages.reap(), "no page alive: the listener stops");
    }

    #[tokio::test]
    async fn a_decline_is_told_once() {
        let pages = Pages::new(Duration::from_secs(60));
        let mut page = pages
            .open("prod/shop/deployment/web", &binding(1), PageView::default())
            .unwrap();
        let csrf = pages.lookup(&secret(&page)).unwrap().csrf;
        pages
            .decide(&secret(&page), &csrf, Decision::Decline)
            .unwrap();
        assert_eq!(
            next(&mut page).await,
            PageWait::Decided(PageDecision::Declined)
        );
        let reopened = pages
            .open("prod/shop/deployment/web", &binding(1), PageView::default())
            .unwrap();
        assert!(!reopened.resumed, "a decline on the record is not resumed");
    }
}
