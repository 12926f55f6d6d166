//! An ordered header list that keeps duplicates, stored in one buffer.
//!
//! FreeSWITCH sends the same header name more than once (`Hangup-Cause` twice in
//! `CHANNEL_HANGUP_COMPLETE`, codec headers twice in `CODEC`), so a map would lose data.
//! A plain event has a few hundred headers and we aim at hundreds of thousands of events
//! per second, so the list is stored as one `String` holding every name and decoded value
//! back to back plus a `Vec` of offsets: two allocations per header block instead of two
//! per header. Lookups are linear scans comparing lengths first, which is cheaper than
//! hashing for the sizes involved. Name comparison ignores ASCII case, as FreeSWITCH's own
//! `switch_event_get_header` does.

use std::fmt;

use crate::percent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    start: usize,
    name_end: usize,
    value_start: usize,
    end: usize,
}

/// An ordered list of `(name, value)` pairs; duplicates are kept in arrival order.
#[derive(Clone, Default)]
pub struct Headers {
    buf: String,
    entries: Vec<Entry>,
}

/// Equality is on the `(name, value)` sequence, not on the internal layout (a fast-path
/// block keeps unreferenced bytes in its buffer).
impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `bytes` of names and values and `count` headers.
    pub fn with_capacity(bytes: usize, count: usize) -> Self {
        Headers { buf: String::with_capacity(bytes), entries: Vec::with_capacity(count) }
    }

    /// Appends a header (its value already decoded).
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.buf.len();
        self.buf.push_str(name);
        let name_end = self.buf.len();
        self.buf.push_str(value);
        self.entries.push(Entry { start, name_end, value_start: name_end, end: self.buf.len() });
    }

    /// Appends a header whose value is percent-decoded first (lossy on invalid UTF-8).
    pub(crate) fn push_decoded(&mut self, name: &str, raw: &str, scratch: &mut Vec<u8>) {
        if !raw.contains('%') {
            self.push(name, raw);
            return;
        }
        scratch.clear();
        percent::decode_into(raw.as_bytes(), scratch);
        let start = self.buf.len();
        self.buf.push_str(name);
        let name_end = self.buf.len();
        match std::str::from_utf8(scratch) {
            Ok(s) => self.buf.push_str(s),
            Err(_) => self.buf.push_str(&String::from_utf8_lossy(scratch)),
        }
        self.entries.push(Entry { start, name_end, value_start: name_end, end: self.buf.len() });
    }

    fn name_of(&self, e: &Entry) -> &str {
        self.buf.get(e.start..e.name_end).unwrap_or_default()
    }

    fn value_of(&self, e: &Entry) -> &str {
        self.buf.get(e.value_start..e.end).unwrap_or_default()
    }

    /// The first value of `name` (ASCII case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| {
                e.name_end - e.start == name.len() && self.name_of(e).eq_ignore_ascii_case(name)
            })
            .map(|e| self.value_of(e))
    }

    /// Every value of `name` in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| {
                e.name_end - e.start == name.len() && self.name_of(e).eq_ignore_ascii_case(name)
            })
            .map(|e| self.value_of(e))
    }

    /// Removes every header called `name` (case-insensitive); returns how many there were.
    /// (Their text stays in the buffer, unreferenced, until the list is dropped.)
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        let buf = &self.buf;
        self.entries.retain(|e| {
            !(e.name_end - e.start == name.len()
                && buf.get(e.start..e.name_end).is_some_and(|n| n.eq_ignore_ascii_case(name)))
        });
        before - self.entries.len()
    }

    /// Sets `name` to `value`: the first occurrence keeps its position and gets the new
    /// value, later duplicates are removed; appended if absent.
    pub fn set(&mut self, name: &str, value: &str) {
        let pos = self.entries.iter().position(|e| {
            e.name_end - e.start == name.len()
                && self.buf.get(e.start..e.name_end).is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        let Some(pos) = pos else {
            self.push(name, value);
            return;
        };
        let start = self.buf.len();
        self.buf.push_str(value);
        let end = self.buf.len();
        let mut kept = self.entries.clone();
        if let Some(e) = kept.get_mut(pos) {
            e.value_start = start;
            e.end = end;
        }
        let buf = &self.buf;
        let mut index = 0;
        kept.retain(|e| {
            let keep = index <= pos
                || !(e.name_end - e.start == name.len()
                    && buf.get(e.start..e.name_end).is_some_and(|n| n.eq_ignore_ascii_case(name)));
            index += 1;
            keep
        });
        self.entries = kept;
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All `(name, value)` pairs in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|e| (self.name_of(e), self.value_of(e)))
    }

    /// The number of headers, duplicates included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes the last header (used to drop an inner `Content-Length` body marker).
    pub(crate) fn pop(&mut self) {
        if let Some(e) = self.entries.pop() {
            // Free its text only if no remaining header points past it (after `set`,
            // a value may live at the end of the buffer).
            let used = self.entries.iter().map(|x| x.end.max(x.name_end)).max().unwrap_or(0);
            if used <= e.start {
                self.buf.truncate(e.start);
            }
        }
    }

    /// The last header, if any.
    pub(crate) fn last(&self) -> Option<(&str, &str)> {
        self.entries.last().map(|e| (self.name_of(e), self.value_of(e)))
    }

    /// The text of the block after `offset` (what follows the blank line of a block
    /// parsed by [`parse_block_owned`], i.e. an inner body).
    pub(crate) fn tail_from(&self, offset: usize) -> Option<&str> {
        self.buf.get(offset..)
    }

    /// Fast path for a whole header block (the body of a plain event): the block is
    /// copied once and values are percent-decoded **in place** (decoding only shrinks),
    /// so there is one copy and two allocations per block instead of work per header; the
    /// bytes a decoded value no longer needs stay in the buffer, unreferenced. Returns
    /// `Ok(None)` if the block or a decoded value is not valid UTF-8, in which case the
    /// caller uses the general (lossy) [`parse_block`].
    ///
    /// On success, also returns the offset just after the blank line; the text after it
    /// is available through [`Headers::tail_from`]. Lines without `:` are skipped.
    pub(crate) fn parse_block_owned(
        bytes: &[u8],
        max_headers: usize,
    ) -> Result<Option<(Headers, usize)>, BlockError> {
        let mut buf = bytes.to_vec();
        let len = buf.len();
        let mut entries = Vec::with_capacity(len / 32 + 1);
        // Pass 1 (read-only): find lines with one amortized SIMD iterator (a memchr call
        // per short line costs more in set-up than the search itself), the colon with a
        // plain loop (names are short), and mark values that contain `%` with a sentinel
        // `end` (usize::MAX - real end) for pass 2.
        let mut pos = 0;
        let mut end = len;
        // One SIMD iterator over `\n` and `:` finds the line end and the name/value
        // separator (first `:` of the line). FreeSWITCH encodes `:` in plain values, so
        // there is usually one `:` per line. (Adding `%` to the iterator costs more than a
        // plain scan of the value: dates and SDP values are full of escapes.)
        let mut marks = memchr::memchr2_iter(b'\n', b':', &buf);
        let mut colon = None;
        while pos < len {
            let (line_end, next) = loop {
                match marks.next() {
                    Some(i) => match buf.get(i) {
                        Some(b':') => {
                            colon.get_or_insert(i);
                        }
                        _ => break (i, i + 1),
                    },
                    None => break (len, len),
                }
            };
            let mut le = line_end;
            if le > pos && buf.get(le - 1) == Some(&b'\r') {
                le -= 1;
            }
            if le <= pos {
                end = next;
                break;
            }
            let line = buf.get(pos..le).unwrap_or_default();
            if let Some(c) = colon.filter(|&c| c < le).map(|c| c - pos) {
                if entries.len() >= max_headers {
                    return Err(BlockError::TooMany);
                }
                let name_end = pos + c;
                let mut vs = c + 1;
                while line.get(vs) == Some(&b' ') {
                    vs += 1;
                }
                let needs_decoding = line.get(vs..).unwrap_or_default().contains(&b'%');
                entries.push(Entry {
                    start: pos,
                    name_end,
                    value_start: pos + vs,
                    end: if needs_decoding { usize::MAX - le } else { le },
                });
            }
            pos = next;
            colon = None;
        }
        // Pass 2: decode the marked values in place.
        for e in entries.iter_mut() {
            if e.end > len {
                let le = usize::MAX - e.end;
                e.end = decode_in_place(&mut buf, e.value_start, le);
            }
        }
        match String::from_utf8(buf) {
            Ok(buf) => Ok(Some((Headers { buf, entries }, end))),
            Err(_) => Ok(None),
        }
    }
}

/// Percent-decodes `buf[start..end]` in place; returns the new end of the value.
fn decode_in_place(buf: &mut [u8], start: usize, end: usize) -> usize {
    let Some(v) = buf.get_mut(start..end) else {
        return end;
    };
    let n = v.len();
    let mut r = 0;
    let mut w = 0;
    while let Some(&b) = v.get(r) {
        let mut out = b;
        r += 1;
        if b == b'%' && r + 1 < n {
            let hi = v.get(r).map_or(INVALID, |&h| HEX_VALUE[usize::from(h)]);
            let lo = v.get(r + 1).map_or(INVALID, |&l| HEX_VALUE[usize::from(l)]);
            if hi | lo < 16 {
                out = hi << 4 | lo;
                r += 2;
            }
        }
        if let Some(slot) = v.get_mut(w) {
            *slot = out;
        }
        w += 1;
    }
    start + w
}

const INVALID: u8 = 0xff;

/// Hex digit values, `INVALID` for anything else (a table lookup instead of three range
/// checks per digit: this loop runs over every encoded byte of every plain event).
static HEX_VALUE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<T: IntoIterator<Item = (&'a str, &'a str)>>(iter: T) -> Self {
        let mut h = Headers::new();
        for (n, v) in iter {
            h.push(n, v);
        }
        h
    }
}

/// Why a header block was rejected.
#[derive(Debug)]
pub(crate) enum BlockError {
    NoColon(String),
    TooMany,
}

/// Parses `Name: value` lines from `text` into `out`, percent-decoding values, until a
/// blank line or the end of `text`. Returns the offset just after the blank line (or
/// `text.len()`). Lines end with LF; a trailing CR is tolerated. Leading spaces of the
/// value are skipped, as libesl does. In `strict` mode a line without `:` is an error,
/// otherwise it is skipped (inside event bodies we prefer keeping the event).
pub(crate) fn parse_block(
    text: &str,
    strict: bool,
    max_headers: usize,
    out: &mut Headers,
    scratch: &mut Vec<u8>,
) -> Result<usize, BlockError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let nl = memchr::memchr(b'\n', bytes.get(pos..).unwrap_or_default()).map(|i| pos + i);
        let line_end = nl.unwrap_or(bytes.len());
        let next = nl.map_or(bytes.len(), |i| i + 1);
        let mut line = text.get(pos..line_end).unwrap_or_default();
        line = line.strip_suffix('\r').unwrap_or(line);
        pos = next;
        if line.is_empty() {
            return Ok(pos);
        }
        match line.split_once(':') {
            Some((name, value)) => {
                if out.len() >= max_headers {
                    return Err(BlockError::TooMany);
                }
                out.push_decoded(name, value.trim_start_matches(' '), scratch);
            }
            None if strict => {
                let mut shown = line.to_owned();
                if shown.len() > 200 {
                    let mut cut = 200;
                    while !shown.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    shown.truncate(cut);
                }
                return Err(BlockError::NoColon(shown));
            }
            None => {}
        }
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_case() {
        let mut h = Headers::new();
        let mut s = Vec::new();
        let end = parse_block(
            "Hangup-Cause: A\nX: a%20b\nhangup-cause: B\r\n\nrest",
            true,
            10,
            &mut h,
            &mut s,
        )
        .unwrap();
        assert_eq!(end, 43);
        assert_eq!(h.get("HANGUP-CAUSE"), Some("A"));
        assert_eq!(h.get_all("Hangup-Cause").collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(h.get("X"), Some("a b"));
        h.pop();
        assert_eq!(h.len(), 2);
        let (o, end) = Headers::parse_block_owned(
            b"Hangup-Cause: A\nX: a%20b%2\nhangup-cause: B%\r\n\nrest",
            10,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            [("Hangup-Cause", "A"), ("X", "a b%2"), ("hangup-cause", "B%")]
        );
        assert_eq!(o.tail_from(end), Some("rest"));
        assert!(Headers::parse_block_owned(b"X: %FF\n\n", 10).unwrap().is_none());
        assert_eq!(h.last(), Some(("X", "a b")));
    }

    #[test]
    fn set_and_remove() {
        let mut h: Headers = [("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")].into_iter().collect();
        h.set("a", "x");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("A", "x"), ("B", "2"), ("C", "4")]);
        h.set("D", "5");
        assert_eq!(h.get("D"), Some("5"));
        assert_eq!(h.remove("b"), 1);
        assert_eq!(h.remove("zz"), 0);
        assert_eq!(h.iter().collect::<Vec<_>>(), [("A", "x"), ("C", "4"), ("D", "5")]);
        h.push("E", "6");
        assert_eq!(h.last(), Some(("E", "6")));
        h.set("A", "long value");
        h.pop();
        assert_eq!(h.get("A"), Some("long value"));
    }

    #[test]
    fn strictness() {
        let mut h = Headers::new();
        let mut s = Vec::new();
        assert!(matches!(
            parse_block("bad line\n", true, 10, &mut h, &mut s),
            Err(BlockError::NoColon(_))
        ));
        assert!(parse_block("bad line\nA: b\n", false, 10, &mut h, &mut s).is_ok());
        assert_eq!(h.len(), 1);
        assert!(matches!(
            parse_block("A: 1\nB: 2\n", false, 1, &mut Headers::new(), &mut s),
            Err(BlockError::TooMany)
        ));
    }
}
