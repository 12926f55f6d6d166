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
        self.entries.iter().find(|e| self.is_named(e, name)).map(|e| self.value_of(e))
    }

    /// Whether `e` is called `name`, ignoring ASCII case: lengths first, then the exact
    /// bytes (one `memcmp`; callers nearly always spell names as FreeSWITCH does), then
    /// the case-folding comparison.
    #[inline]
    fn is_named(&self, e: &Entry, name: &str) -> bool {
        e.name_end - e.start == name.len() && {
            let n = self.name_of(e);
            n == name || n.eq_ignore_ascii_case(name)
        }
    }

    /// Every value of `name` in arrival order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.iter().filter(move |e| self.is_named(e, name)).map(|e| self.value_of(e))
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

    /// Fast path for a whole header block (the body of a plain event), in one pass over
    /// the bytes: a vectorised classifier marks every `\n`, `:` and `%` of each 64-byte
    /// chunk, and the marks are walked bit by bit. The block is copied once into the
    /// header buffer, run by run between the escapes that get decoded, so a value without
    /// `%` costs nothing beyond its share of the copy and no byte is looked at twice.
    /// Returns `Ok(None)` if the decoded block is not valid UTF-8, in which case the
    /// caller uses the general (lossy) [`parse_block`].
    ///
    /// On success, also returns the offset just after the blank line; the text after it
    /// is available through [`Headers::tail_from`]. Lines without `:` are skipped.
    pub(crate) fn parse_block_owned(
        bytes: &[u8],
        max_headers: usize,
    ) -> Result<Option<(Headers, usize)>, BlockError> {
        let mut s = PlainScan::new(bytes);
        let (chunks, rest) = bytes.as_chunks::<CHUNK>();
        let mut last = [0u8; CHUNK];
        if let Some(l) = last.get_mut(..rest.len()) {
            l.copy_from_slice(rest);
        }
        let mut blank = None;
        'chunks: for (n, chunk) in chunks.iter().chain(std::iter::once(&last)).enumerate() {
            let base = n * CHUNK;
            let (marks, mut hits) = classify(chunk);
            while hits != 0 {
                let b = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                let i = base + b;
                match marks.get(b) {
                    Some(&LF) => {
                        if s.end_line(i, max_headers)? {
                            blank = Some(i + 1);
                            break 'chunks;
                        }
                    }
                    Some(&COLON) => {
                        if s.colon == NONE {
                            s.colon = i;
                        }
                    }
                    _ => s.escape(i),
                }
            }
        }
        let end_in = match blank {
            Some(e) => e,
            None => {
                // A last line without a line feed is a header too.
                s.end_line(bytes.len(), max_headers)?;
                bytes.len()
            }
        };
        let PlainScan { mut out, r, entries, .. } = s;
        let shift = r.saturating_sub(out.len());
        out.extend_from_slice(bytes.get(r..).unwrap_or_default());
        let end = end_in.saturating_sub(shift);
        match String::from_utf8(out) {
            Ok(buf) => Ok(Some((Headers { buf, entries }, end))),
            Err(_) => Ok(None),
        }
    }
}

/// Bytes classified at a time by [`classify`].
const CHUNK: usize = 64;

/// "No colon seen yet on this line".
const NONE: usize = usize::MAX;

/// Classes of the bytes the plain-block parser stops at.
const LF: u8 = 1;
const COLON: u8 = 2;
const PERCENT: u8 = 4;

/// Classifies a chunk: the class of each byte ([`LF`], [`COLON`], [`PERCENT`] or 0) and
/// a bit mask of the positions that have one. Plain safe code shaped so that the compiler
/// vectorises the compares (16 bytes at a time with SSE2 on x86_64); the crate forbids
/// `unsafe`, so `std::arch` is out of reach. The mask is gathered 8 bytes at a time with
/// a multiplication, so the caller walks all marks of the chunk with one
/// `trailing_zeros` loop (a `memchr` call per line, colon or escape costs more in set-up
/// than the search itself, and a loop per 8 bytes mispredicts its exit most of the time).
#[inline(always)]
fn classify(chunk: &[u8; CHUNK]) -> ([u8; CHUNK], u64) {
    let mut marks = [0u8; CHUNK];
    let mut any = [0u8; CHUNK];
    for ((m, a), &b) in marks.iter_mut().zip(any.iter_mut()).zip(chunk) {
        let lf = u8::from(b == b'\n');
        let colon = u8::from(b == b':');
        let percent = u8::from(b == b'%');
        *m = (lf * LF) | (colon * COLON) | (percent * PERCENT);
        *a = lf | colon | percent;
    }
    let mut mask = 0u64;
    for (k, c) in any.as_chunks::<8>().0.iter().enumerate() {
        // Bytes are 0 or 1: the multiplication moves byte j's bit to bit 56 + j.
        let bits = u64::from_le_bytes(*c).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= bits << (8 * k);
    }
    (marks, mask)
}

/// State of [`Headers::parse_block_owned`]. The output is the input with the decoded
/// escapes shrunk, written lazily: `input[..r]` has been written (or consumed by an
/// escape), so an input offset `x >= r` lands at `x - (r - out.len())` in the output.
struct PlainScan<'a> {
    input: &'a [u8],
    out: Vec<u8>,
    r: usize,
    entries: Vec<Entry>,
    line_start: usize,
    /// `r - out.len()` when the current line started: a line's name and the start of its
    /// value precede its first escape, so they move by this much.
    line_shift: usize,
    /// The first `:` of the current line, or [`NONE`].
    colon: usize,
}

impl<'a> PlainScan<'a> {
    fn new(input: &'a [u8]) -> Self {
        PlainScan {
            input,
            // + 16: room for the block copies of `copy_to`, so that they never reallocate.
            out: Vec::with_capacity(input.len() + 16),
            r: 0,
            entries: Vec::with_capacity(input.len() / 32 + 1),
            line_start: 0,
            line_shift: 0,
            colon: NONE,
        }
    }

    /// A `%` at `p`: decoded if it is in a value (after the line's colon) and followed by
    /// two hex digits; otherwise it stays literal (copied with the run it is part of).
    #[inline(always)]
    fn escape(&mut self, p: usize) {
        if self.colon == NONE || p < self.r {
            return;
        }
        let hi = self.input.get(p + 1).map_or(INVALID, |&h| HEX_VALUE[usize::from(h)]);
        let lo = self.input.get(p + 2).map_or(INVALID, |&l| HEX_VALUE[usize::from(l)]);
        if hi | lo >= 16 {
            return;
        }
        self.copy_to(p);
        self.out.push(hi << 4 | lo);
        self.r = p + 3;
    }

    /// Writes `input[r..to]`. Runs between escapes are short (3 bytes typically), and a
    /// `memcpy` of a variable small length mispredicts its size dispatch; so a run of up
    /// to 16 bytes is copied as a fixed 16-byte block and the excess cut off again (it is
    /// rewritten later anyway: the output is written strictly in order).
    #[inline(always)]
    fn copy_to(&mut self, to: usize) {
        let run = to.saturating_sub(self.r);
        if run <= 16
            && let Some(block) = self.input.get(self.r..).and_then(|s| s.first_chunk::<16>())
        {
            let len = self.out.len();
            self.out.extend_from_slice(block);
            self.out.truncate(len + run);
        } else {
            self.out.extend_from_slice(self.input.get(self.r..to).unwrap_or_default());
        }
    }

    /// The line ending at `i` (its `\n`, or the end of the input). Returns `true` for the
    /// blank line that ends the block.
    #[inline(always)]
    fn end_line(&mut self, i: usize, max_headers: usize) -> Result<bool, BlockError> {
        let start = self.line_start;
        let mut le = i;
        if le > start && self.input.get(le - 1) == Some(&b'\r') {
            le -= 1;
        }
        if le <= start {
            return Ok(true);
        }
        let c = self.colon;
        if c < le {
            if self.entries.len() >= max_headers {
                return Err(BlockError::TooMany);
            }
            // FreeSWITCH writes one space after the colon; libesl skips any number.
            let mut vs = c + 1;
            if self.input.get(vs) == Some(&b' ') {
                vs += 1;
                while vs < le && self.input.get(vs) == Some(&b' ') {
                    vs += 1;
                }
            }
            let shift = self.line_shift;
            self.entries.push(Entry {
                start: start.saturating_sub(shift),
                name_end: c.saturating_sub(shift),
                value_start: vs.saturating_sub(shift),
                end: le.saturating_sub(self.r.saturating_sub(self.out.len())),
            });
        }
        self.line_shift = self.r.saturating_sub(self.out.len());
        self.line_start = i + 1;
        self.colon = NONE;
        Ok(false)
    }
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

    /// Checks the one-pass fast path against the general line-by-line parser.
    fn same_as_general(text: &str, max: usize) {
        let mut general = Headers::new();
        let general_end = parse_block(text, false, max, &mut general, &mut Vec::new());
        match (Headers::parse_block_owned(text.as_bytes(), max), general_end) {
            (Ok(Some((fast, end))), Ok(general_end)) => {
                assert_eq!(fast, general, "{text:?}");
                assert_eq!(fast.tail_from(end), text.get(general_end..), "{text:?}");
            }
            // A decoded value is not UTF-8: the general parser replaced it.
            (Ok(None), Ok(_)) => {
                assert!(general.iter().any(|(_, v)| v.contains('\u{FFFD}')), "{text:?}")
            }
            (Err(BlockError::TooMany), Err(BlockError::TooMany)) => {}
            (fast, general) => panic!("{text:?}: {:?} vs {general:?}", fast.map(|o| o.is_some())),
        }
    }

    #[test]
    fn fast_path_edges() {
        for text in [
            "",
            "\n",
            "\r\n",
            "A: b",
            "A: b\r",
            "A:\n\nbody",
            "A:    \r\n",
            "no colon\nA: %41%4\n%41: x%\nB: %%41%\n\r\nrest %41",
            "A: %C3%A9 \u{e9}\nB: %FF\n",
            "A: 0123456789abcdef0123456789%41bcdef0123456789abcdef%42%43\n",
        ] {
            for max in [0, 1, 2, 100] {
                same_as_general(text, max);
            }
        }
        // Every split of an escape, a colon and a line feed across the 64-byte chunks.
        for pad in 0..70 {
            let text =
                format!("{}: v%3A%3Ax\r\nB: {}%41\n\nbody", "N".repeat(pad), "y".repeat(pad));
            same_as_general(&text, 10);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000, ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn fast_path_equals_general_parser(
            parts in proptest::collection::vec(
                proptest::sample::select(&[
                    "Name", "x", " ", ":", "%", "%3A", "%41", "%4", "%G1", "%C3", "%A9", "%FF",
                    "%0A", "\n", "\r", "\r\n", "\n\n", "\u{e9}", "0123456789abcdef0123",
                ][..]),
                0..200,
            ),
            max in 0usize..40,
        ) {
            same_as_general(&parts.concat(), max);
        }
    }
}
