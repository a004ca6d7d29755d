//! The Kubernetes releases this server is tested against, and the warning for a cluster outside
//! them. The API server's `/version` is read once per context, on its first use; a minor outside
//! [`TESTED_MINORS`] is logged on stderr and added, once, to the warnings of that context's
//! first tool result. It never refuses: other releases most likely work, but nobody has
//! checked how their controllers and kubectl behave (the README's compatibility notes list the
//! differences found between the tested ones).

use std::ops::RangeInclusive;

use serde_json::Value;

/// The minors of Kubernetes 1.x the end-to-end suite runs against on a real control plane
/// (`scripts/version-matrix.sh`).
pub const TESTED_MINORS: RangeInclusive<u32> = 34..=37;

/// The warning for an API server whose `/version` answer (JSON) reports a release outside
/// [`TESTED_MINORS`]; None inside it, or when the answer names no release.
pub fn untested_release(version: &Value) -> Option<String> {
    let major = version["major"].as_str()?;
    // Managed offerings report a minor such as "30+".
    let minor = version["minor"].as_str()?.trim_end_matches('+');
    let tested = major == "1" && minor.parse().is_ok_and(|m| TESTED_MINORS.contains(&m));
    if tested {
        return None;
    }
    // What the server reports is shown escaped: a result is read by a model.
    let release = version["gitVersion"]
        .as_str()
        .map(|git| format!("{} ", git.escape_debug()))
        .unwrap_or_default();
    Some(format!(
        "the API server runs Kubernetes {release}(minor {}.{}), outside the releases this server is tested against (1.{} to 1.{}): rollbacks most likely work, but this release's controllers and kubectl have not been compared",
        major.escape_debug(),
        minor.escape_debug(),
        TESTED_MINORS.start(),
        TESTED_MINORS.end(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn releases_inside_the_tested_range_are_not_warned_about() {
        for minor in ["34", "36", "37"] {
            let version =
                json!({"major": "1", "minor": minor, "gitVersion": format!("v1.{minor}.1")});
            assert_eq!(untested_release(&version), None, "{minor}");
        }
    }

    #[test]
    fn releases_outside_it_are_named() {
        let old = json!({"major": "1", "minor": "30+", "gitVersion": "v1.30.5-eks-1"});
        assert_eq!(
            untested_release(&old).unwrap(),
            "the API server runs Kubernetes v1.30.5-eks-1 (minor 1.30), outside the releases this server is tested against (1.34 to 1.37): rollbacks most likely work, but this release's controllers and kubectl have not been compared"
        );
        let new = json!({"major": "1", "minor": "38"});
        assert!(
            untested_release(&new)
                .unwrap()
                .contains("Kubernetes (minor 1.38)")
        );
        let two = json!({"major": "2", "minor": "36", "gitVersion": "v2.36.0"});
        assert!(untested_release(&two).is_some());
    }

    #[test]
    fn an_answer_without_a_release_is_not_warned_about() {
        assert_eq!(untested_release(&json!({"kind": "Status"})), None);
        assert_eq!(untested_release(&json!({"major": "1"})), None);
    }

    #[test]
    fn what_the_server_reports_is_escaped() {
        let hostile =
            json!({"major": "1", "minor": "30\nWarnings: none", "gitVersion": "v1.30\u{1b}[2J"});
        let warning = untested_release(&hostile).unwrap();
        assert!(
            !warning.contains('\n') && !warning.contains('\u{1b}'),
            "{warning}"
        );
    }
}
