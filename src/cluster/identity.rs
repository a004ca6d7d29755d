//! Who the writes run as, in terms others can check: the Kubernetes user the API server
//! authenticates our credentials as (a `SelfSubjectReview`, asked once per context), the
//! `User-Agent` every request carries (so the API server's own audit log names this server),
//! and the operating-system user running it. The approval prompt and every undo audit record
//! show them; a cluster that cannot say who we are (403, a server older than 1.28) makes the
//! user "unknown", never a reason to refuse.

use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use serde::Serialize;

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

/// The operating-system user running the server: `name (uid N)`, the name from `/etc/passwd`,
/// else `$USER`; `uid N` alone when neither names it. The uid is the owner of `/proc/self`
/// (the process's effective uid), so no unsafe call is needed. Looked up once per process.
pub fn os_user() -> &'static str {
    static OS_USER: OnceLock<String> = OnceLock::new();
    OS_USER.get_or_init(look_up_os_user)
}

fn look_up_os_user() -> String {
    let uid = std::fs::metadata("/proc/self").map(|meta| meta.uid()).ok();
    let from_passwd = uid.and_then(|uid| {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd_name(&passwd, uid)
    });
    let name = from_passwd.or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()));
    describe_os_user(name.as_deref(), uid)
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

/// The name of `uid` in a passwd file (`name:x:uid:gid:...`).
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_uid_in_a_passwd_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\njane:x:1000:1000::/home/jane:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("jane"));
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 42), None);
    }

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
