//! The sealed `requestState` of a 2026-07-28 approval round.
//!
//! The client echoes `requestState` back, so it is untrusted input. It is sealed with HMAC
//! (rmcp's `RequestStateCodec`, a random key per process), expires with the approval timeout,
//! is single use, and names the exact plan it
//! approves: context, namespace, kind, name, uid, the workload's spec/labels/annotations
//! digest, target revision, the target template's digest, the digest of the patch the write
//! sends and the reason shown. The binding is signed inside the payload (not only mixed into
//! the tag) so a rejection can say which part differs. The payload is readable by the client:
//! it holds no template or env values, only identifiers and digests.
//!
//! Single use is kept by remembering the nonces issued and not yet spent, each until its
//! expiry on the monotonic clock: a state is accepted only while its nonce is in that set,
//! and redeeming it takes it out. (Remembering spent nonces instead, until they expire, would
//! let a state whose wall-clock expiry the codec checks be replayed after the wall clock
//! stepped back.) The set holds at most [`MAX_OPEN`] states.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::model::{RequestStateCodec, RequestStateError, SealOptions};
use serde::{Deserialize, Serialize};

use crate::rollout::plan::RollbackPlan;
use crate::rollout::template::sha256_hex;

/// Exactly what an approval approves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalBinding {
    pub context: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// The resourceVersion shown to the approver. Not compared: status updates move it; the
    /// workload's state is bound by `state_digest`.
    pub shown_resource_version: String,
    /// The workload's spec, labels and annotations ([`Workload::state_digest`]).
    ///
    /// [`Workload::state_digest`]: crate::rollout::workload::Workload::state_digest
    pub state_digest: String,
    pub target_revision: i64,
    pub template_digest: String,
    /// SHA-256 of the patch the write sends ([`RollbackPlan::patch_digest`]): everything it
    /// writes besides the template (the annotations a Deployment undo copies from the
    /// ReplicaSet, a ControllerRevision's data) is bound too.
    pub patch_digest: String,
    /// SHA-256 of the reason shown to the approver (the retry must carry the same one).
    pub reason_digest: String,
}

impl ApprovalBinding {
    pub fn of(plan: &RollbackPlan, context: &str, reason: Option<&str>) -> Self {
        Self {
            context: context.to_string(),
            namespace: plan.namespace.clone(),
            kind: plan.kind.kind().to_string(),
            name: plan.name.clone(),
            uid: plan.uid.clone(),
            shown_resource_version: plan.resource_version.clone(),
            state_digest: plan.state_digest.clone(),
            target_revision: plan.target_revision(),
            template_digest: plan.template_digest.clone(),
            patch_digest: plan.patch_digest(reason),
            reason_digest: sha256_hex(reason.unwrap_or_default().as_bytes()),
        }
    }

    /// What differs from `now`, in words; the resourceVersion alone does not count.
    pub fn differences(&self, now: &Self) -> Vec<String> {
        let fields = [
            ("context", &self.context, &now.context),
            ("namespace", &self.namespace, &now.namespace),
            ("kind", &self.kind, &now.kind),
            ("name", &self.name, &now.name),
            ("uid", &self.uid, &now.uid),
        ];
        let mut differences: Vec<String> = fields
            .iter()
            .filter(|(_, approved, now)| approved != now)
            .map(|(field, approved, now)| format!("{field}: {approved} -> {now}"))
            .collect();
        if self.target_revision != now.target_revision {
            differences.push(format!(
                "target revision: {} -> {}",
                self.target_revision, now.target_revision
            ));
        }
        if self.template_digest != now.template_digest {
            differences.push("the target revision's template changed".into());
        }
        if self.state_digest != now.state_digest {
            differences.push(format!(
                "the workload's spec, labels or annotations changed (resourceVersion {} -> {})",
                self.shown_resource_version, now.shown_resource_version
            ));
        }
        // The patch also covers the template and the workload's annotations, which are
        // named above when they changed; otherwise what else it writes did.
        if self.patch_digest != now.patch_digest
            && self.template_digest == now.template_digest
            && self.state_digest == now.state_digest
            && self.reason_digest == now.reason_digest
        {
            differences.push(
                "the patch the write would send changed (the target revision's annotations or data)"
                    .into(),
            );
        }
        if self.reason_digest != now.reason_digest {
            differences.push("the reason differs from the one shown to the approver".into());
        }
        differences
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    /// The call id of the round that asked: the retry's audit records carry it too, so one
    /// approval is one call on the record.
    call_id: String,
    binding: ApprovalBinding,
    /// The approval page the round that asked opened (URL-mode elicitation): the retry waits
    /// on its decision. Its public id, not its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
}

/// An echoed state, opened.
#[derive(Debug)]
pub struct Redemption {
    /// The call id of the round that asked, when the state is authentic.
    pub asked_in: Option<String>,
    /// The approval page that round opened, when it asked through one.
    pub page: Option<String>,
    /// Whether it approves the current plan, once.
    pub verdict: Result<(), StateRejection>,
}

/// Why an echoed state is not accepted. Each means no write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateRejection {
    #[error(
        "it was not issued by this server or was modified (integrity check failed); ask for approval again"
    )]
    Tampered,
    #[error("it expired (approvals are valid for the approval timeout); ask for approval again")]
    Expired,
    #[error("it was already used once; every approval is single use, so ask for approval again")]
    Replayed,
    #[error(
        "it approves a different plan ({}); the workload or the request changed since approval, so inspect the history and ask again",
        .0.join("; ")
    )]
    ForeignPlan(Vec<String>),
}

/// The signing key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no randomness for the approval signing key: {0}")]
    Random(#[from] getrandom::Error),
    #[error("unusable approval signing key: {0}")]
    Codec(#[from] RequestStateError),
}

/// Issues and redeems sealed approval states.
pub struct ApprovalStates {
    codec: RequestStateCodec,
    ttl: Duration,
    /// Nonces issued and not yet redeemed, with their expiry on the monotonic clock.
    open: Mutex<HashMap<String, Instant>>,
}

/// The most approval states open (issued, unredeemed, unexpired) at once. Each costs a tool
/// call that planned an undo and asked; a client that asks for more without answering is
/// refused a new one until older ones expire.
pub const MAX_OPEN: usize = 1024;

/// Why no state could be sealed. Nothing is asked and nothing written.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("no randomness for the approval state: {0}")]
    Random(#[from] getrandom::Error),
    #[error(
        "{MAX_OPEN} approval requests are already waiting for an answer; answer or let them expire (the approval timeout) and ask again"
    )]
    TooManyOpen,
}

impl ApprovalStates {
    /// A fresh random signing key: states never outlive the process.
    pub fn new(ttl: Duration) -> Result<Self, KeyError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self {
            codec: RequestStateCodec::try_new(key.to_vec())?,
            ttl,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Seals a state for `binding`, asked in the call `call_id` (through the approval page
    /// `page`, if it did), and remembers it as open.
    pub fn seal(
        &self,
        binding: &ApprovalBinding,
        call_id: &str,
        page: Option<&str>,
    ) -> Result<String, SealError> {
        self.seal_at(binding, call_id, page, Instant::now())
    }

    fn seal_at(
        &self,
        binding: &ApprovalBinding,
        call_id: &str,
        page: Option<&str>,
        now: Instant,
    ) -> Result<String, SealError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        let nonce: String = nonce.iter().map(|byte| format!("{byte:02x}")).collect();
        {
            let mut open = self.open_states();
            open.retain(|_, expires| *expires > now);
            if open.len() >= MAX_OPEN {
                return Err(SealError::TooManyOpen);
            }
            open.insert(nonce.clone(), now + self.ttl);
        }
        let sealed = Sealed {
            nonce,
            call_id: call_id.to_string(),
            binding: binding.clone(),
            page: page.map(str::to_string),
        };
        Ok(self
            .codec
            .seal_json_with(&sealed, &SealOptions::new().ttl(self.ttl))
            .expect("the approval state serialises"))
    }

    /// Accepts a state once, if it is authentic, unexpired, open and binds `current`.
    pub fn redeem(&self, sealed: &str, current: &ApprovalBinding) -> Redemption {
        self.redeem_at(sealed, current, Instant::now())
    }

    fn redeem_at(&self, sealed: &str, current: &ApprovalBinding, now: Instant) -> Redemption {
        let opened: Sealed = match self.codec.open_json_with(sealed, &[]) {
            Ok(opened) => opened,
            Err(error) => {
                return Redemption {
                    asked_in: None,
                    page: None,
                    verdict: Err(match error {
                        RequestStateError::Expired => StateRejection::Expired,
                        _ => StateRejection::Tampered,
                    }),
                };
            }
        };
        let verdict = self.spend(&opened.nonce, now).and_then(|()| {
            let differences = opened.binding.differences(current);
            if differences.is_empty() {
                Ok(())
            } else {
                Err(StateRejection::ForeignPlan(differences))
            }
        });
        Redemption {
            asked_in: Some(opened.call_id),
            page: opened.page,
            verdict,
        }
    }

    /// Takes an open nonce out of the open set, or says why it is not open: expired on the
    /// monotonic clock, or never issued here or already redeemed.
    fn spend(&self, nonce: &str, now: Instant) -> Result<(), StateRejection> {
        match self.open_states().remove(nonce) {
            Some(expires) if expires > now => Ok(()),
            Some(_) => Err(StateRejection::Expired),
            None => Err(StateRejection::Replayed),
        }
    }

    fn open_states(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> ApprovalBinding {
        ApprovalBinding {
            context: "prod".into(),
            namespace: "shop".into(),
            kind: "Deployment".into(),
            name: "api".into(),
            uid: "u1".into(),
            shown_resource_version: "10".into(),
            state_digest: "s1".into(),
            target_revision: 3,
            template_digest: "abc".into(),
            patch_digest: "p1".into(),
            reason_digest: sha256_hex(b"checkout errors"),
        }
    }

    #[test]
    fn a_status_only_change_keeps_the_approval_valid() {
        let states = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        let sealed = states.seal(&binding(), "call-1", None).unwrap();
        let mut later = binding();
        later.shown_resource_version = "17".into();
        assert_eq!(states.redeem(&sealed, &later).verdict, Ok(()));
    }

    #[test]
    fn a_state_is_accepted_once() {
        let states = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        let sealed = states.seal(&binding(), "call-1", None).unwrap();
        let redeemed = states.redeem(&sealed, &binding());
        assert_eq!(
            (redeemed.asked_in.as_deref(), redeemed.verdict),
            (Some("call-1"), Ok(()))
        );
        assert_eq!(
            states.redeem(&sealed, &binding()).verdict,
            Err(StateRejection::Replayed)
        );
    }

    #[test]
    fn a_modified_or_foreign_state_is_tampered() {
        let states = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        let sealed = states.seal(&binding(), "call-1", None).unwrap();
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            states.redeem(&tampered, &binding()).verdict,
            Err(StateRejection::Tampered)
        );
        let other_process = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        assert_eq!(
            other_process.redeem(&sealed, &binding()).verdict,
            Err(StateRejection::Tampered)
        );
        assert_eq!(
            states.redeem("garbage", &binding()).verdict,
            Err(StateRejection::Tampered)
        );
    }

    #[test]
    fn a_state_for_another_plan_names_the_difference() {
        let states = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        let sealed = states.seal(&binding(), "call-1", None).unwrap();
        let mut changed = binding();
        changed.shown_resource_version = "11".into();
        changed.state_digest = "s2".into();
        changed.target_revision = 2;
        changed.reason_digest = sha256_hex(b"something else");
        assert_eq!(
            states.redeem(&sealed, &changed).verdict,
            Err(StateRejection::ForeignPlan(vec![
                "target revision: 3 -> 2".into(),
                "the workload's spec, labels or annotations changed (resourceVersion 10 -> 11)"
                    .into(),
                "the reason differs from the one shown to the approver".into(),
            ]))
        );
    }

    #[test]
    fn a_spent_state_stays_spent_after_the_wall_clock_steps_back() {
        // Monotonic time passes beyond the TTL while the wall clock stepped back, so the
        // codec's wall-clock expiry still accepts the seal: only the open set refuses it.
        let ttl = Duration::from_secs(60);
        let states = ApprovalStates::new(ttl).unwrap();
        let issued = Instant::now();
        let sealed = states.seal_at(&binding(), "call-1", None, issued).unwrap();
        assert_eq!(
            states.redeem_at(&sealed, &binding(), issued).verdict,
            Ok(())
        );
        let later = issued + ttl + Duration::from_secs(1);
        assert_eq!(
            states.redeem_at(&sealed, &binding(), later).verdict,
            Err(StateRejection::Replayed)
        );
    }

    #[test]
    fn a_state_past_its_monotonic_expiry_is_expired_even_if_the_wall_clock_says_not() {
        let ttl = Duration::from_secs(60);
        let states = ApprovalStates::new(ttl).unwrap();
        let issued = Instant::now();
        let sealed = states.seal_at(&binding(), "call-1", None, issued).unwrap();
        let later = issued + ttl + Duration::from_secs(1);
        assert_eq!(
            states.redeem_at(&sealed, &binding(), later).verdict,
            Err(StateRejection::Expired)
        );
    }

    #[test]
    fn open_states_are_bounded() {
        let states = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        let now = Instant::now();
        for _ in 0..MAX_OPEN {
            states.seal_at(&binding(), "call", None, now).unwrap();
        }
        assert!(matches!(
            states.seal_at(&binding(), "call", None, now),
            Err(SealError::TooManyOpen)
        ));
        // Once the older ones expire, new ones can be asked.
        let later = now + Duration::from_secs(61);
        assert!(states.seal_at(&binding(), "call", None, later).is_ok());
    }

    #[test]
    fn a_patch_that_changed_alone_is_named() {
        let states = ApprovalStates::new(Duration::from_secs(60)).unwrap();
        let sealed = states.seal(&binding(), "call-1", None).unwrap();
        let mut changed = binding();
        changed.patch_digest = "p2".into();
        assert_eq!(
            states.redeem(&sealed, &changed).verdict,
            Err(StateRejection::ForeignPlan(vec![
                "the patch the write would send changed (the target revision's annotations or data)".into()
            ]))
        );
    }

    #[test]
    fn an_old_state_expires() {
        let states = ApprovalStates::new(Duration::from_millis(1)).unwrap();
        let sealed = states.seal(&binding(), "call-1", None).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            states.redeem(&sealed, &binding()).verdict,
            Err(StateRejection::Expired)
        );
    }
}
