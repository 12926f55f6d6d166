//! Property tests: chunking invariance over the real captures, no panic on arbitrary or
//! mutated input (the always-on substitute for the fuzz target), and encoder/decoder
//! round trips.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use kontakt_esl::{
    Decoder, Event, Headers, Limits, Message, percent_decode, percent_encode, server,
};
use proptest::prelude::*;

fn fixtures() -> &'static Vec<Vec<u8>> {
    static F: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    F.get_or_init(|| fixture_files("rx").iter().map(|p| read(p)).collect())
}

/// Decodes `bytes` fed in chunks of the given sizes (cycled); returns messages and the
/// final error, if any.
fn decode_chunked(bytes: &[u8], sizes: &[usize], limits: Limits) -> (Vec<Message>, Option<String>) {
    let mut d = Decoder::with_limits(limits);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(bytes.len()).max(1);
        let end = (pos + n).min(bytes.len());
        d.feed(&bytes[pos..end]);
        pos = end;
        i += 1;
        loop {
            match d.decode() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) if !e.is_fatal() => continue,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    let err = d.finish().err().map(|e| e.to_string());
    (out, err)
}

#[test]
fn byte_by_byte_equals_one_shot() {
    for f in fixtures() {
        let (whole, e1) = decode_chunked(f, &[f.len()], Limits::DEFAULT);
        let (single, e2) = decode_chunked(f, &[1], Limits::DEFAULT);
        assert!(e1.is_none() && e2.is_none());
        assert_eq!(whole, single);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn chunking_does_not_change_the_result(
        which in 0usize..64,
        sizes in prop::collection::vec(1usize..3000, 1..50),
    ) {
        let f = &fixtures()[which % fixtures().len()];
        let (whole, _) = decode_chunked(f, &[f.len()], Limits::DEFAULT);
        let (chunked, err) = decode_chunked(f, &sizes, Limits::DEFAULT);
        prop_assert!(err.is_none());
        prop_assert_eq!(whole, chunked);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes, arbitrary chunking, tiny limits: never panics.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let tiny = Limits { max_line_len: 64, max_headers: 8, max_header_block: 256, max_content_length: 512, max_event_headers: 16 };
        let _ = decode_chunked(&bytes, &sizes, tiny);
        let _ = decode_chunked(&bytes, &sizes, Limits::DEFAULT);
    }

    /// The command decoder (emulator side) never panics either.
    #[test]
    fn command_decoder_never_panics(
        bytes in prop::collection::vec(prop::sample::select(b"abc: \n\r0123456789content-length%".to_vec()), 0..2048),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut d = kontakt_esl::CommandDecoder::with_limits(Limits { max_line_len: 64, max_headers: 8, max_header_block: 256, max_content_length: 512, max_event_headers: 16 });
        let mut pos = 0;
        let mut i = 0;
        while pos < bytes.len() {
            let end = (pos + sizes[i % sizes.len()]).min(bytes.len());
            d.feed(&bytes[pos..end]);
            pos = end;
            i += 1;
            while let Ok(Some(_)) = d.decode() {}
        }
        let _ = d.finish();
    }

    /// Structured garbage: frame-shaped input with random types, lengths and bodies.
    #[test]
    fn frame_shaped_garbage_never_panics(
        ct in prop::sample::select(vec!["text/event-plain", "text/event-json", "text/event-xml", "api/response", "command/reply", "x"]),
        cl in prop::option::of(0usize..300),
        body in prop::collection::vec(prop::sample::select(b"<>/&;:%\n\r{}[]\",0aZ -_".to_vec()), 0..300),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut frame = format!("Content-Type: {ct}\n").into_bytes();
        if let Some(cl) = cl {
            frame.extend_from_slice(format!("Content-Length: {cl}\n").as_bytes());
        }
        frame.push(b'\n');
        frame.extend_from_slice(&body);
        let _ = decode_chunked(&frame, &sizes, Limits::DEFAULT);
    }

    /// Real captures with random bytes overwritten: never panics.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..64,
        start in 0usize..200_000,
        len in 0usize..4000,
        edits in prop::collection::vec((0usize..4000, any::<u8>()), 1..16),
    ) {
        let f = &fixtures()[which % fixtures().len()];
        let start = start % f.len();
        let mut bytes = f[start..(start + len).min(f.len())].to_vec();
        for (at, b) in edits {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = b;
            }
        }
        let _ = decode_chunked(&bytes, &[7, 300, 1], Limits::DEFAULT);
    }

    #[test]
    fn percent_round_trip(s in any::<String>()) {
        // FreeSWITCH does not double-encode an existing `%XX`; outside that case,
        // decode(encode(s)) is the identity.
        let enc = percent_encode(&s);
        prop_assert!(enc.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b' '));
        if !has_upper_hex_escape(&s) {
            prop_assert_eq!(percent_decode(&enc), s);
        }
    }

    /// Server encoder then decoder gives back the same event, plain, json and xml.
    #[test]
    fn event_round_trip(
        headers in prop::collection::vec(("[A-Za-z][A-Za-z0-9_-]{0,20}", any::<String>()), 0..20),
        body in prop::option::of(any::<String>()),
    ) {
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(n, v)| !n.eq_ignore_ascii_case("content-length") && !has_upper_hex_escape(v))
            .collect();
        let h: Headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let ev = Event::new(h, body);
        for format in 0..3 {
            let mut bytes = Vec::new();
            match format {
                0 => server::event_plain(&mut bytes, &ev),
                1 => server::event_json(&mut bytes, &ev),
                _ => server::event_xml(&mut bytes, &ev),
            }
            let mut d = Decoder::new();
            d.feed(&bytes);
            let got = d.decode().unwrap().unwrap().into_event().unwrap();
            prop_assert_eq!(&got, &ev, "format {}", format);
        }
    }
}

fn has_upper_hex_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(3)
        .any(|w| w[0] == b'%' && w[1..].iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')))
}
