//! `text/event-xml` bodies: a small tolerant parser for the one shape FreeSWITCH emits.
//!
//! ```text
//! <event>
//!   <headers>
//!     <Event-Name>API</Event-Name>          (text URL-encoded, then XML-escaped)
//!     ...
//!   </headers>
//!   <Content-Length>50</Content-Length>     (only with a body)
//!   <body>...</body>                        (XML-escaped, not URL-encoded)
//! </event>
//! ```
//!
//! A general XML library is not needed for this fixed shape, and a hand parser keeps the
//! dependency set small and the failure modes under our control (no entity expansion, no
//! recursion). FreeSWITCH writes an array variable as the element repeated, so consecutive
//! repeats of the same `variable_*` element are merged back into `ARRAY::a|:b`, which
//! makes the event identical to its plain and json forms. The pretty-printer adds
//! indentation before `</body>`, so the body is cut to the `Content-Length` element when
//! one is present.

use crate::event::Event;
use crate::headers::Headers;
use crate::percent;

/// Parses a `text/event-xml` body.
pub(crate) fn parse_xml_event(bytes: &[u8], max_headers: usize) -> Result<Event, String> {
    let text = percent::lossy(bytes);
    let mut p = Parser { s: &text, pos: 0 };
    p.skip_ws();
    if p.rest().starts_with("<?") {
        p.skip_past("?>")?;
    }
    p.expect_open("event")?;
    let mut headers = Headers::with_capacity(text.len() / 2, text.len() / 60 + 1);
    let mut body: Option<String> = None;
    let mut content_length: Option<usize> = None;
    let mut last_name = String::new();
    let mut scratch = Vec::new();
    loop {
        p.skip_ws();
        match p.tag()? {
            Tag::Close("event") => break,
            Tag::Open("headers") => loop {
                p.skip_ws();
                match p.tag()? {
                    Tag::Close("headers") => break,
                    Tag::Open(n) => {
                        let raw = p.text_until_close(n)?;
                        let repeat = n.starts_with("variable_") && n == last_name;
                        if repeat {
                            let value = percent::percent_decode(&unescape(raw));
                            // Merge an array variable written as repeated elements.
                            let prev = headers.last().map(|(_, v)| v.to_owned());
                            if let Some(prev) = prev {
                                headers.pop();
                                let mut merged = if prev.starts_with("ARRAY::") {
                                    prev
                                } else {
                                    format!("ARRAY::{prev}")
                                };
                                merged.push_str("|:");
                                merged.push_str(&value);
                                headers.push(n, &merged);
                            }
                        } else {
                            if headers.len() >= max_headers {
                                return Err(format!("more than {max_headers} event headers"));
                            }
                            // Common case without entities: decode straight into the
                            // header buffer, no intermediate strings.
                            if raw.contains('&') {
                                headers.push_decoded(n, &unescape(raw), &mut scratch);
                            } else {
                                headers.push_decoded(n, raw, &mut scratch);
                            }
                        }
                        last_name.clear();
                        last_name.push_str(n);
                    }
                    Tag::Empty(n) => {
                        if headers.len() >= max_headers {
                            return Err(format!("more than {max_headers} event headers"));
                        }
                        headers.push(n, "");
                        last_name.clear();
                    }
                    Tag::Close(n) => return Err(format!("unexpected </{n}> in <headers>")),
                }
            },
            Tag::Open(name) if name == "Content-Length" => {
                let raw = p.text_until_close(name)?;
                content_length = unescape(raw).trim().parse().ok();
            }
            Tag::Open(name) if name == "body" => {
                body = Some(unescape(p.text_until_close(name)?));
            }
            Tag::Open(name) => {
                // Unknown element at event level: skip its text, tolerate it.
                p.text_until_close(name)?;
            }
            Tag::Empty(_) => {}
            Tag::Close(n) => return Err(format!("unexpected </{n}>")),
        }
    }
    if let (Some(b), Some(n)) = (body.as_mut(), content_length)
        && b.len() > n
    {
        let mut cut = n;
        while !b.is_char_boundary(cut) {
            cut -= 1;
        }
        b.truncate(cut);
    }
    Ok(Event::new(headers, body))
}

enum Tag<'a> {
    Open(&'a str),
    Close(&'a str),
    Empty(&'a str),
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or_default()
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn skip_past(&mut self, pat: &str) -> Result<(), String> {
        let i = self.rest().find(pat).ok_or_else(|| format!("missing {pat:?}"))?;
        self.pos += i + pat.len();
        Ok(())
    }

    fn expect_open(&mut self, name: &str) -> Result<(), String> {
        match self.tag()? {
            Tag::Open(n) if n == name => Ok(()),
            _ => Err(format!("expected <{name}>")),
        }
    }

    fn tag(&mut self) -> Result<Tag<'a>, String> {
        let r = self.rest();
        if !r.starts_with('<') {
            return Err(format!("expected a tag at offset {}", self.pos));
        }
        let end = r.find('>').ok_or("unterminated tag")?;
        let inner = r.get(1..end).unwrap_or_default();
        self.pos += end + 1;
        if let Some(n) = inner.strip_prefix('/') {
            return Ok(Tag::Close(n.trim()));
        }
        if let Some(n) = inner.strip_suffix('/') {
            return Ok(Tag::Empty(element_name(n)));
        }
        Ok(Tag::Open(element_name(inner)))
    }

    /// The raw text up to `</name>`, consuming the closing tag.
    fn text_until_close(&mut self, name: &str) -> Result<&'a str, String> {
        let r = self.rest();
        let lt = r.find('<').ok_or_else(|| format!("unterminated <{name}>"))?;
        let text = r.get(..lt).unwrap_or_default();
        self.pos += lt;
        match self.tag()? {
            Tag::Close(n) if n == name => Ok(text),
            _ => Err(format!("expected </{name}>")),
        }
    }
}

/// The element name, without attributes.
fn element_name(inner: &str) -> &str {
    match inner.bytes().position(|b| b.is_ascii_whitespace()) {
        Some(i) => inner.get(..i).unwrap_or_default(),
        None => inner,
    }
}

/// Replaces the five predefined entities and numeric character references; anything
/// else (a stray `&`) is kept literally.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i..).unwrap_or_default();
        let semi = after.get(..12).unwrap_or(after).find(';');
        let decoded = semi.and_then(|j| {
            let ent = after.get(1..j)?;
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let num = ent.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, j + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = after.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_freeswitch_shape() {
        let x = "<event>\n  <headers>\n    <Event-Name>BACKGROUND_JOB</Event-Name>\n    \
                 <Event-Subclass>a%3A%3Ab</Event-Subclass>\n    <variable_m>x</variable_m>\n    \
                 <variable_m>y</variable_m>\n    <E/>\n  </headers>\n  \
                 <Content-Length>6</Content-Length>\n  <body>&lt;ok&gt;&amp;\n  </body>\n</event>";
        let ev = parse_xml_event(x.as_bytes(), 100).unwrap();
        assert_eq!(ev.name(), Some("BACKGROUND_JOB"));
        assert_eq!(ev.subclass(), Some("a::b"));
        assert_eq!(ev.var("m"), Some("ARRAY::x|:y"));
        assert_eq!(ev.header("E"), Some(""));
        assert_eq!(ev.body(), Some("<ok>&\n"));
    }

    #[test]
    fn errors_do_not_panic() {
        for s in ["", "<event>", "<event><headers><a>x</b>", "<x/>", "<event><headers><a>", "&"] {
            assert!(parse_xml_event(s.as_bytes(), 100).is_err(), "{s}");
        }
        assert_eq!(unescape("a &amp; &#65;&#x42; &bogus; &"), "a & AB &bogus; &");
    }
}
