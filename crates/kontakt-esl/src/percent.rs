//! FreeSWITCH's URL encoding of header values, both directions.
//!
//! Decoding deliberately does **not** turn `+` into a space (that is HTML form encoding,
//! not what FreeSWITCH does): unencoded protocol values such as `Reply-Text: +OK accepted`
//! pass through the same decoder, and FreeSWITCH itself encodes a literal `+` as `%2B`.
//! A `%` that is not followed by two hex digits is kept literally, because older
//! FreeSWITCH versions and hand-written test data contain raw reserved characters.
//! Each value is decoded exactly once, after the line was split off, so double-encoded
//! content such as `%253A` survives as `%3A`.

/// Characters FreeSWITCH 1.10 encodes besides controls, DEL and non-ASCII bytes
/// (`SWITCH_URL_UNSAFE` in `switch_utils.c`).
const UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the percent-decoded form of `input` to `out`.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) {
    let mut rest = input;
    while let Some(pos) = memchr::memchr(b'%', rest) {
        let (before, after) = rest.split_at(pos);
        out.extend_from_slice(before);
        match (after.get(1).copied().and_then(hex_val), after.get(2).copied().and_then(hex_val)) {
            (Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                rest = after.get(3..).unwrap_or_default();
            }
            _ => {
                out.push(b'%');
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.extend_from_slice(rest);
}

/// `bytes` as text, invalid UTF-8 replaced with U+FFFD. Tries the fast validator first:
/// `String::from_utf8_lossy` walks the input chunk by chunk even when it is all valid,
/// which costs several times more than `str::from_utf8`.
pub(crate) fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Percent-decodes `input` into a `String`, replacing invalid UTF-8 with U+FFFD.
pub fn percent_decode(input: &str) -> String {
    if !input.contains('%') {
        return input.to_owned();
    }
    let mut out = Vec::with_capacity(input.len());
    decode_into(input.as_bytes(), &mut out);
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn is_unsafe(b: u8) -> bool {
    !(b' '..=b'~').contains(&b) || UNSAFE.contains(&b)
}

/// Appends `value` encoded exactly as FreeSWITCH 1.10 encodes event header values
/// (`switch_url_encode`): controls, DEL, non-ASCII bytes and the unsafe set become
/// `%XX` with uppercase hex; a `%` already followed by two **uppercase** hex digits is
/// left alone (FreeSWITCH does not double-encode).
pub fn percent_encode_into(value: &str, out: &mut Vec<u8>) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !is_unsafe(b) {
            continue;
        }
        if b == b'%' && is_upper_hex(bytes.get(i + 1)) && is_upper_hex(bytes.get(i + 2)) {
            continue;
        }
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        out.push(b'%');
        out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
        out.push(HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0'));
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

fn is_upper_hex(b: Option<&u8>) -> bool {
    matches!(b, Some(b'0'..=b'9' | b'A'..=b'F'))
}

/// `value` encoded as FreeSWITCH encodes event header values.
pub fn percent_encode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    percent_encode_into(value, &mut out);
    // Only ASCII escapes were inserted between whole UTF-8 sequences or replaced whole
    // bytes, so the result is ASCII plus the original text: valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_not_space() {
        assert_eq!(percent_decode("+OK accepted"), "+OK accepted");
        assert_eq!(percent_decode("%2BOK%0A"), "+OK\n");
    }

    #[test]
    fn double_encoding_is_decoded_once() {
        assert_eq!(percent_decode("sip%253A1000"), "sip%3A1000");
    }

    #[test]
    fn stray_percent_is_literal() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(percent_decode("a%FFb"), "a\u{FFFD}b");
    }

    #[test]
    fn encode_matches_freeswitch() {
        assert_eq!(
            percent_encode("Mon, 30 Nov 2026 02:36:48 GMT"),
            "Mon,%2030%20Nov%202026%2002%3A36%3A48%20GMT"
        );
        assert_eq!(percent_encode("+OK\n"), "%2BOK%0A");
        assert_eq!(percent_encode("%a, %d"), "%25a,%20%25d");
        assert_eq!(percent_encode("keep %3A"), "keep%20%3A");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("a/b~c*d'e(f)!"), "a/b~c*d'e(f)!");
    }
}
