//! What the operator lets an agent touch, decided before any API request: which kubeconfig
//! contexts a call may name (`--allow-context`, `--require-context`) and which namespaces
//! (`--allow-namespace`, `--deny-namespace`; deny wins). Pure functions over names, so every
//! rule is unit-tested without a cluster; a refusal names the rule that refused. The operator's
//! patterns are trimmed, and a namespace pattern no namespace name can match is refused when
//! the policy is built, since a deny rule that matches nothing fails open.

/// Whether `text` matches a shell-style glob: `*` is any run of characters, `?` any one;
/// everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer match with backtracking to the last `*`: linear in practice,
    // never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The operator's patterns with the spaces around each removed: a list in a variable is often
/// written `kube-*, prod-*`, and `" prod-*"` would match nothing.
fn trimmed(patterns: Vec<String>) -> Vec<String> {
    patterns
        .into_iter()
        .map(|pattern| pattern.trim().to_string())
        .collect()
}

/// The namespace fence: `--allow-namespace` (none given: all) and `--deny-namespace`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePolicy {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// A namespace pattern that no namespace can match: as a deny rule it would fence nothing, as
/// the only allow rule it would refuse everything, so the server does not start with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{flag} pattern {pattern:?} ({variable}) can never match a namespace: {reason}; fix or remove it"
)]
pub struct UnmatchablePattern {
    pub flag: &'static str,
    pub variable: &'static str,
    pub pattern: String,
    pub reason: String,
}

/// Why no namespace name can match `pattern`, if none can. Namespace names are DNS-1123
/// labels: at most 63 lower-case letters, digits and '-', starting and ending with a letter or
/// digit; a pattern adds `*` and `?`.
fn unmatchable(pattern: &str) -> Option<String> {
    if pattern.is_empty() {
        return Some("it is empty (an empty variable, or a stray comma in the list?)".into());
    }
    if let Some(upper) = pattern.chars().find(char::is_ascii_uppercase) {
        return Some(format!(
            "it has the upper-case {upper:?}, and namespace names are lower case"
        ));
    }
    let allowed = |c: &char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-*?".contains(*c);
    if let Some(other) = pattern.chars().find(|c| !allowed(c)) {
        return Some(format!(
            "it contains {other:?}, and namespace names hold only lower-case letters, digits and '-' (a pattern adds '*' and '?')"
        ));
    }
    if pattern.starts_with('-') {
        return Some("it starts with '-', and namespace names start with a letter or digit".into());
    }
    if pattern.ends_with('-') {
        return Some("it ends with '-', and namespace names end with a letter or digit".into());
    }
    let length = pattern.chars().filter(|&c| c != '*').count();
    (length > 63).then(|| {
        format!("it has {length} characters besides '*', and namespace names have at most 63")
    })
}

/// Why a namespace is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceRefusal {
    #[error(
        "namespace \"{namespace}\" is denied by the server's --deny-namespace {rule:?}; nothing was requested from the cluster. Ask the operator, or use another namespace"
    )]
    Denied { namespace: String, rule: String },
    #[error(
        "namespace \"{namespace}\" matches none of the server's --allow-namespace patterns ({allowed}); nothing was requested from the cluster. Use one of those namespaces, or ask the operator"
    )]
    NotAllowed { namespace: String, allowed: String },
}

impl NamespacePolicy {
    /// The fence from the operator's patterns, each trimmed; refuses a pattern no namespace
    /// can match, naming it and its flag.
    pub fn new(allow: Vec<String>, deny: Vec<String>) -> Result<Self, UnmatchablePattern> {
        let policy = Self {
            allow: trimmed(allow),
            deny: trimmed(deny),
        };
        let flagged = [
            (
                "--allow-namespace",
                "K8S_ROLLOUT_MCP_ALLOW_NAMESPACE",
                &policy.allow,
            ),
            (
                "--deny-namespace",
                "K8S_ROLLOUT_MCP_DENY_NAMESPACE",
                &policy.deny,
            ),
        ];
        for (flag, variable, patterns) in flagged {
            for pattern in patterns {
                if let Some(reason) = unmatchable(pattern) {
                    return Err(UnmatchablePattern {
                        flag,
                        variable,
                        pattern: pattern.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(policy)
    }

    /// Allows `namespace`, or names the rule that refuses it (a deny rule wins over any allow).
    pub fn check(&self, namespace: &str) -> Result<(), NamespaceRefusal> {
        if let Some(rule) = self.deny.iter().find(|rule| glob_matches(rule, namespace)) {
            return Err(NamespaceRefusal::Denied {
                namespace: namespace.to_string(),
                rule: rule.clone(),
            });
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|rule| glob_matches(rule, namespace)) {
            return Err(NamespaceRefusal::NotAllowed {
                namespace: namespace.to_string(),
                allowed: self.allow.join(", "),
            });
        }
        Ok(())
    }
}

/// Which contexts a call may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextPolicy {
    /// The context the server started with: what a call without `context` uses.
    pub start: String,
    /// `--allow-context` patterns; none given means only the start context.
    pub allow: Vec<String>,
    /// `--require-context`: every call must name its context.
    pub required: bool,
    /// The contexts the kubeconfig defines.
    pub known: Vec<String>,
}

/// Why a call's context is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextRefusal {
    #[error(
        "this server runs with --require-context: name the kubeconfig context in the `context` argument (allowed: {allowed}); nothing was requested from any cluster"
    )]
    Required { allowed: String },
    #[error(
        "context \"{context}\" is not in the kubeconfig; allowed contexts: {allowed}. Nothing was requested from any cluster"
    )]
    Unknown { context: String, allowed: String },
    #[error(
        "context \"{context}\" is not allowed by this server ({rule}); allowed contexts: {allowed}. Nothing was requested from any cluster; the operator can add it with --allow-context"
    )]
    NotAllowed {
        context: String,
        rule: String,
        allowed: String,
    },
}

impl ContextPolicy {
    /// The policy from the operator's patterns, each trimmed.
    pub fn new(start: String, allow: Vec<String>, required: bool, known: Vec<String>) -> Self {
        Self {
            start,
            allow: trimmed(allow),
            required,
            known,
        }
    }

    /// The `--allow-context` patterns that match no context the kubeconfig defines.
    pub fn unmatched(&self) -> Vec<&str> {
        self.allow
            .iter()
            .map(String::as_str)
            .filter(|rule| !self.known.iter().any(|known| glob_matches(rule, known)))
            .collect()
    }

    fn is_allowed(&self, context: &str) -> bool {
        if self.allow.is_empty() {
            context == self.start
        } else {
            self.allow.iter().any(|rule| glob_matches(rule, context))
        }
    }

    /// The kubeconfig contexts a call may name, in kubeconfig order.
    pub fn allowed(&self) -> Vec<&str> {
        self.known
            .iter()
            .map(String::as_str)
            .filter(|context| self.is_allowed(context))
            .collect()
    }

    fn allowed_text(&self) -> String {
        let allowed = self.allowed();
        if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed.join(", ")
        }
    }

    /// The context a call runs in: the one it names, else the start context.
    pub fn choose<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, ContextRefusal> {
        let context = match requested {
            Some(context) => context,
            None if self.required => {
                return Err(ContextRefusal::Required {
                    allowed: self.allowed_text(),
                });
            }
            None => self.start.as_str(),
        };
        if !self.known.iter().any(|known| known == context) {
            return Err(ContextRefusal::Unknown {
                context: context.to_string(),
                allowed: self.allowed_text(),
            });
        }
        if !self.is_allowed(context) {
            let rule = if self.allow.is_empty() {
                format!(
                    "without --allow-context only the start context \"{}\" is",
                    self.start
                )
            } else {
                format!("--allow-context {}", self.allow.join(", "))
            };
            return Err(ContextRefusal::NotAllowed {
                context: context.to_string(),
                rule,
                allowed: self.allowed_text(),
            });
        }
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("shop", "shop"));
        assert!(!glob_matches("shop", "shop2"));
        assert!(glob_matches("team-*", "team-a"));
        assert!(glob_matches("team-*", "team-"));
        assert!(!glob_matches("team-*", "teams"));
        assert!(glob_matches("*-prod", "eu-west-prod"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("kube-?", "kube-1"));
        assert!(!glob_matches("kube-?", "kube-12"));
        assert!(!glob_matches(&"*a".repeat(30), &"a".repeat(29)));
    }

    fn namespaces(allow: &[&str], deny: &[&str]) -> NamespacePolicy {
        NamespacePolicy {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn no_namespace_rules_allow_every_namespace() {
        assert_eq!(namespaces(&[], &[]).check("kube-system"), Ok(()));
    }

    #[test]
    fn a_deny_rule_wins_and_is_named() {
        let policy = namespaces(&["*"], &["kube-*"]);
        assert_eq!(policy.check("shop"), Ok(()));
        assert_eq!(
            policy.check("kube-system"),
            Err(NamespaceRefusal::Denied {
                namespace: "kube-system".into(),
                rule: "kube-*".into()
            })
        );
    }

    #[test]
    fn an_allow_list_refuses_what_it_does_not_match() {
        let policy = namespaces(&["shop", "team-*"], &[]);
        assert_eq!(policy.check("team-a"), Ok(()));
        let refusal = policy.check("billing").unwrap_err().to_string();
        assert!(
            refusal
                .contains("matches none of the server's --allow-namespace patterns (shop, team-*)"),
            "{refusal}"
        );
    }

    #[test]
    fn list_items_are_trimmed_so_a_spaced_list_still_fences() {
        let policy = NamespacePolicy::new(
            vec![" shop".into(), "team-* ".into()],
            vec!["kube-*".into(), " prod-*".into()],
        )
        .unwrap();
        assert_eq!(
            policy.check("prod-eu"),
            Err(NamespaceRefusal::Denied {
                namespace: "prod-eu".into(),
                rule: "prod-*".into()
            })
        );
        assert_eq!(policy.check("shop"), Ok(()));
        assert_eq!(policy.check("team-a"), Ok(()));
    }

    #[test]
    fn a_namespace_pattern_no_namespace_can_match_is_refused_naming_it_the_flag_and_why() {
        let refused = |allow: &[&str], deny: &[&str]| {
            let owned = |patterns: &[&str]| patterns.iter().map(|s| s.to_string()).collect();
            NamespacePolicy::new(owned(allow), owned(deny))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused(&[], &["kube-*", "Prod-*"]),
            "--deny-namespace pattern \"Prod-*\" (K8S_ROLLOUT_MCP_DENY_NAMESPACE) can never match a namespace: it has the upper-case 'P', and namespace names are lower case; fix or remove it"
        );
        let long = "a".repeat(64);
        for (pattern, reason) in [
            (
                "",
                "it is empty (an empty variable, or a stray comma in the list?)",
            ),
            (
                "shop ns",
                "it contains ' ', and namespace names hold only lower-case letters, digits and '-' (a pattern adds '*' and '?')",
            ),
            ("team.a", "it contains '.', and namespace names"),
            (
                "-shop*",
                "it starts with '-', and namespace names start with a letter or digit",
            ),
            (
                "shop-",
                "it ends with '-', and namespace names end with a letter or digit",
            ),
            (
                long.as_str(),
                "it has 64 characters besides '*', and namespace names have at most 63",
            ),
        ] {
            let message = refused(&[pattern], &[]);
            assert!(
                message.starts_with(&format!(
                    "--allow-namespace pattern {pattern:?} (K8S_ROLLOUT_MCP_ALLOW_NAMESPACE) can never match a namespace: {reason}"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn every_pattern_some_namespace_can_match_is_accepted() {
        let patterns = ["*", "?", "kube-*", "*-prod", "a*b", "team-?", "*-*", "0"]
            .map(String::from)
            .to_vec();
        let mut accepted = patterns.clone();
        accepted.push("a".repeat(63));
        accepted.push(format!("{}*", "a".repeat(63)));
        assert!(NamespacePolicy::new(accepted.clone(), accepted).is_ok());
    }

    fn contexts(allow: &[&str], required: bool) -> ContextPolicy {
        ContextPolicy {
            start: "dev".into(),
            allow: allow.iter().map(|s| s.to_string()).collect(),
            required,
            known: ["dev", "staging", "prod"].map(String::from).to_vec(),
        }
    }

    #[test]
    fn by_default_only_the_start_context_is_allowed() {
        let policy = contexts(&[], false);
        assert_eq!(policy.choose(None), Ok("dev"));
        assert_eq!(policy.choose(Some("dev")), Ok("dev"));
        let refusal = policy.choose(Some("prod")).unwrap_err().to_string();
        assert!(
            refusal.contains("only the start context \"dev\" is); allowed contexts: dev."),
            "{refusal}"
        );
    }

    #[test]
    fn allow_patterns_name_the_contexts_a_call_may_use() {
        let policy = contexts(&["dev", "stag*"], false);
        assert_eq!(policy.allowed(), vec!["dev", "staging"]);
        assert_eq!(policy.choose(Some("staging")), Ok("staging"));
        assert!(matches!(
            policy.choose(Some("prod")),
            Err(ContextRefusal::NotAllowed { .. })
        ));
        assert_eq!(
            policy.choose(Some("qa")),
            Err(ContextRefusal::Unknown {
                context: "qa".into(),
                allowed: "dev, staging".into()
            })
        );
    }

    #[test]
    fn context_patterns_are_trimmed_and_those_matching_no_context_are_named() {
        let policy = ContextPolicy::new(
            "dev".into(),
            vec![" stag*".into(), "prod ".into(), "qa-*".into(), "Dev".into()],
            false,
            ["dev", "staging", "prod"].map(String::from).to_vec(),
        );
        assert_eq!(policy.allowed(), vec!["staging", "prod"]);
        assert_eq!(policy.unmatched(), vec!["qa-*", "Dev"]);
    }

    #[test]
    fn require_context_refuses_a_call_without_one() {
        let policy = contexts(&["*"], true);
        assert_eq!(
            policy.choose(None),
            Err(ContextRefusal::Required {
                allowed: "dev, staging, prod".into()
            })
        );
        assert_eq!(policy.choose(Some("prod")), Ok("prod"));
    }
}
