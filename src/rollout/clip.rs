//! Display caps. Text that comes from the cluster (annotations, change-causes, templates,
//! object names) or from the client can be of any length, and lists (objects sharing a number,
//! revisions deleted) can be as long as the history; what a message or a rendering shows of
//! them is bounded here, and always says how much it left out (`... N more`).

use std::borrow::Cow;
use std::fmt::Display;

/// Characters shown of one value inside a line (a change-cause, an annotation, an image).
pub const VALUE: usize = 256;
/// Characters kept of one value from the cluster in a structured result (a change-cause: the
/// longest one this server writes, a 1,024-character reason and its prefix, fits).
pub const FIELD: usize = 2 * 1024;
/// Items shown of a list inside a line.
pub const ITEMS: usize = 20;
/// Characters shown of a whole block of text (a template, a unified diff).
pub const BLOCK: usize = 64 * 1024;

/// `text` itself, or its first `max` characters followed by `... (N more characters)`.
pub fn text(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let rest = text[cut..].chars().count();
            Cow::Owned(format!("{}... ({rest} more characters)", &text[..cut]))
        }
    }
}

/// Text from the agent or the cluster made safe to show a human inside one line: control
/// characters (newlines, ANSI escapes, bidi overrides and other format characters) are
/// written as escapes (`\n`, `\u{1b}`), so they can neither start a line of their own nor
/// restyle the text, and the result is clipped to `max` characters ([`text`]).
pub fn untrusted(raw: &str, max: usize) -> String {
    escape(&text(raw, max))
}

/// `raw` with its control and format characters written as escapes (see [`untrusted`]),
/// unclipped: for text whose length is bounded elsewhere (an Event's note, cut to its limit).
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ch if ch.is_control() || is_format(ch) => {
                out.push_str(&format!("\\u{{{:x}}}", ch as u32));
            }
            ch => out.push(ch),
        }
    }
    out
}

/// Characters that change how the text around them is shown, or show as nothing: every
/// Unicode format character (category Cf: bidi embeddings, overrides, isolates and marks,
/// zero-width joiners and spaces, the interlinear annotation controls, the tag characters),
/// the line and paragraph separators, and the other default-ignorable characters that render
/// invisibly (the Hangul fillers, the combining grapheme joiner, variation selectors, which
/// can carry hidden text).
fn is_format(ch: char) -> bool {
    matches!(
        ch,
        '\u{ad}'
            | '\u{34f}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// At most `max` of `items` joined with `separator`, then `... N more` for the rest.
pub fn list<T: Display>(items: impl IntoIterator<Item = T>, max: usize, separator: &str) -> String {
    let mut shown = Vec::new();
    let mut more = 0usize;
    for item in items {
        if shown.len() < max {
            shown.push(item.to_string());
        } else {
            more += 1;
        }
    }
    if more > 0 {
        shown.push(format!("... {more} more"));
    }
    shown.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_borrowed_and_long_text_says_what_it_left_out() {
        assert!(matches!(text("abc", 3), Cow::Borrowed("abc")));
        assert_eq!(text("abcdef", 3), "abc... (3 more characters)");
        assert_eq!(text("ééééé", 2), "éé... (3 more characters)");
    }

    #[test]
    fn untrusted_text_cannot_break_the_line_or_restyle_it() {
        assert_eq!(untrusted("ok", 10), "ok");
        assert_eq!(
            untrusted("a\nWarnings: none\r\x1b[31mred\u{202e}x", 100),
            "a\\nWarnings: none\\r\\u{1b}[31mred\\u{202e}x"
        );
        // Arabic letter mark, interlinear annotation, a tag character, a variation selector.
        assert_eq!(
            untrusted("a\u{61c}b\u{fff9}c\u{fffb}d\u{e0041}e\u{e0100}f", 100),
            "a\\u{61c}b\\u{fff9}c\\u{fffb}d\\u{e0041}e\\u{e0100}f"
        );
        assert_eq!(
            untrusted("caf\u{e9} \u{65e5}\u{672c}", 100),
            "caf\u{e9} \u{65e5}\u{672c}"
        );
        let long = untrusted(&"y".repeat(10_000), 20);
        assert!(long.starts_with(&"y".repeat(20)) && long.ends_with("(9980 more characters)"));
    }

    #[test]
    fn long_lists_end_with_a_count() {
        assert_eq!(list([1, 2, 3], 3, ", "), "1, 2, 3");
        assert_eq!(list(1..=10, 2, ", "), "1, 2, ... 8 more");
        assert_eq!(list(Vec::<i64>::new(), 2, ", "), "");
    }
}
