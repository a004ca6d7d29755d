//! Who the writes run as, in terms others can check: the Kubernetes user the API server
//! authenticates our credentials as (a `SelfSubjectReview`, asked once per context), the
//! `User-Agent` every request carries (so the API server's own audit log names this server),
//! and the operating-system user running it. The approval prompt and every undo audit record
//! show them; a cluster that cannot say who we are (403, a server older than 1.28) makes the
//! user "unknown", never a reason to refuse.

use std::sync::OnceLock;

use serde::Serialize;

use crate::platform;

/// The `User-Agent` of every request: `k8s-rollout-mcp/<version>`.
pub const USER_AGENT: &str = concat!("k8s-rollout-mcp/", env!("CARGO_PKG_VERSION"));

/// The Kubernetes user the API server says our credentials are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KubeUser {
    /// The `SelfSubjectReview` answered.
    Known {
        username: String,
        groups: Vec<String>,
    },
    /// It did not; why.
    Unknown(String),
}

impl KubeUser {
    /// The user name, when known.
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Known { username, .. } => Some(username),
            Self::Unknown(_) => None,
        }
    }

    /// `kube user "jane"` or `kube user unknown (<reason>)`, with the name escaped.
    pub fn describe(&self) -> String {
        match self {
            Self::Known { username, .. } => format!("kube user {username:?}"),
            Self::Unknown(reason) => format!("kube user unknown ({})", reason.escape_debug()),
        }
    }
}

/// The operating-system user running the server: `name (uid N)` on Unix, `name` on Windows
/// ([`platform::os_user`] says where each comes from); `uid N` alone when no name is known.
/// Looked up once per process.
pub fn os_user() -> &'static str {
    static OS_USER: OnceLock<String> = OnceLock::new();
    OS_USER.get_or_init(|| {
        let (name, uid) = platform::os_user();
        describe_os_user(name.as_deref(), uid)
    })
}

/// `name (uid N)`, `name`, `uid N` or `unknown`.
fn describe_os_user(name: Option<&str>, uid: Option<u32>) -> String {
    match (name, uid) {
        (Some(name), Some(uid)) => format!("{name} (uid {uid})"),
        (Some(name), None) => name.to_string(),
        (None, Some(uid)) => format!("uid {uid}"),
        (None, None) => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_what_is_known_of_the_os_user() {
        assert_eq!(
            describe_os_user(Some("jane"), Some(1000)),
            "jane (uid 1000)"
        );
        assert_eq!(describe_os_user(None, Some(1000)), "uid 1000");
        assert_eq!(describe_os_user(None, None), "unknown");
        assert!(!os_user().is_empty());
    }

    #[test]
    fn a_kube_user_is_described_escaped() {
        let user = KubeUser::Known {
            username: "eve\"\nWarnings: none".into(),
            groups: vec![],
        };
        assert_eq!(user.describe(), r#"kube user "eve\"\nWarnings: none""#);
        assert_eq!(
            KubeUser::Unknown("403 forbidden".into()).describe(),
            "kube user unknown (403 forbidden)"
        );
    }
}
