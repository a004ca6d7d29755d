//! MCP clients known not to show the approval form to their user: some declare the
//! elicitation capability but never draw it, which would hang the undo until the host gives up.
//! None of them is asked through the client: the approval page opens in the browser instead
//! (`--approval auto`), or the undo is refused at once, saying why. A name here only ever
//! refuses the form: no client is approved, or trusted more, because of its name (names are not
//! authenticated).
//!
//! Each entry names where the behaviour was reported, so it can be checked and removed when the
//! host fixes it.

/// A client that cannot show its user the approval form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CannotAsk {
    /// `clientInfo.name` as the client sends it.
    pub client_name: &'static str,
    /// The hosts that send that name.
    pub hosts: &'static str,
    /// What happens when it is asked.
    pub behaviour: &'static str,
    /// Where that was reported.
    pub source: &'static str,
}

/// Every known client that cannot show the approval form. A `client_name` ending in `*` names
/// every client whose name starts with the rest.
pub const CANNOT_ASK: &[CannotAsk] = &[
    CannotAsk {
        client_name: "claude-ai",
        hosts: "Claude Desktop and Cowork",
        behaviour: "it declares elicitation, but the request is never shown and hangs until it times out (60 s in Claude Desktop) or is cancelled; Cowork drops the 2026-07-28 InputRequiredResult",
        source: "public host issue reports, anthropics/claude-code issues 88901, 94450 and 94806 (late 2026)",
    },
    CannotAsk {
        client_name: "local-agent-mode-*",
        hosts: "the Code tab of Claude Desktop",
        behaviour: "it declares no elicitation at all",
        source: "public host issue report, anthropics/claude-code issue 96043 (late 2026)",
    },
];

impl CannotAsk {
    /// `this MCP client ("NAME": HOSTS) cannot show the approval form: BEHAVIOUR (SOURCE)`.
    pub fn described(&self) -> String {
        format!(
            "this MCP client (\"{}\": {}) cannot show the approval form: {} ({})",
            self.client_name, self.hosts, self.behaviour, self.source
        )
    }
}

/// The entry for a client by its `clientInfo.name`, if it is known to be unable to ask.
pub fn cannot_ask(client_name: Option<&str>) -> Option<&'static CannotAsk> {
    let name = client_name?;
    CANNOT_ASK
        .iter()
        .find(|entry| match entry.client_name.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => entry.client_name == name,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_desktop_is_known_and_other_names_are_not() {
        assert_eq!(
            cannot_ask(Some("claude-ai")).map(|entry| entry.hosts),
            Some("Claude Desktop and Cowork")
        );
        assert_eq!(
            cannot_ask(Some("local-agent-mode-k8s-rollout")).map(|entry| entry.hosts),
            Some("the Code tab of Claude Desktop")
        );
        for name in [
            None,
            Some("local-agent-mode"),
            Some("claude-code"),
            Some("Claude-AI"),
            Some("claude-ai "),
        ] {
            assert_eq!(cannot_ask(name), None, "{name:?}");
        }
    }
}
