//! HTML text building with escaping. Every value that did not come from this source file goes
//! through [`esc`] (text and attribute values alike); markup is only ever written by the page
//! modules themselves.

use std::fmt::Write as _;

/// Escapes text for an HTML text node or a double-quoted attribute value.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` are written as
/// `\u003c` …, so no value can close the block or open a comment.
pub(crate) fn json_block(value: &serde_json::Value) -> String {
    let raw = value.to_string();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `<option value="v">label</option>` for each pair, escaped; `selected` marks one value.
pub(crate) fn options<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str)>,
    selected: Option<&str>,
) -> String {
    let mut out = String::new();
    for (value, label) in items {
        let sel = if selected == Some(value) { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{}\"{sel}>{}</option>", esc(value), esc(label));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("Соборна, 12"), "Соборна, 12");
    }

    #[test]
    fn json_blocks_cannot_be_closed_from_inside() {
        let v = serde_json::json!({"k": "</script><script>alert(1)</script>", "a": "<!--"});
        let s = json_block(&v);
        assert!(!s.contains('<') && !s.contains('>'), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn options_escape_values_and_labels() {
        let s = options([("a\"b", "<b>")], Some("a\"b"));
        assert_eq!(s, "<option value=\"a&quot;b\" selected>&lt;b&gt;</option>");
    }
}
