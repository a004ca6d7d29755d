//! MCP clients known to declare the elicitation capability but never show the form to their
//! user. Asking one of them would hang the undo until the host gives up, so the undo is refused
//! at once instead, saying why. A name here only ever refuses: no client is approved, or trusted
//! more, because of its name (names are not authenticated).
//!
//! Each entry names where the behaviour was reported, so it can be checked and removed when the
//! host fixes it.

/// A client that cannot ask its user although it says it can.
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

/// Every known client that declares elicitation but cannot ask.
pub const CANNOT_ASK: &[CannotAsk] = &[CannotAsk {
    client_name: "claude-ai",
    hosts: "Claude Desktop and Cowork",
    behaviour: "the elicitation request is never shown and hangs until it times out (60 s in Claude Desktop) or is cancelled",
    source: "public host issue reports, anthropics/claude-code issues 88901, 94450 and 94806 (late 2026)",
}];

impl CannotAsk {
    /// `this MCP client ("NAME": HOSTS) declares elicitation but cannot show the approval
    /// form: BEHAVIOUR (SOURCE)`.
    pub fn described(&self) -> String {
        format!(
            "this MCP client (\"{}\": {}) declares elicitation but cannot show the approval form: {} ({})",
            self.client_name, self.hosts, self.behaviour, self.source
        )
    }
}

/// The entry for a client by its `clientInfo.name`, if it is known to be unable to ask.
pub fn cannot_ask(client_name: Option<&str>) -> Option<&'static CannotAsk> {
    let name = client_name?;
    CANNOT_ASK.iter().find(|entry| entry.client_name == name)
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
        for name in [
            None,
            Some("claude-code"),
            Some("Claude-AI"),
            Some("claude-ai "),
        ] {
            assert_eq!(cannot_ask(name), None, "{name:?}");
        }
    }
}
