//! Fuzz target: arbitrary bytes through the decoder in arbitrary chunking.
//!
//! The first byte selects the limits (default or tiny, to exercise every limit path), the
//! next three the chunk sizes; the rest is the stream. Also runs `decode_to_json_lines`.
//! Any panic, or memory growth beyond the limits, is a bug.
#![no_main]

use kontakt_esl::{Decoder, Limits, decode_to_json_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, bytes) = data.split_at(4);
    let limits = if head[0] & 1 == 0 {
        Limits::DEFAULT
    } else {
        Limits {
            max_line_len: 64,
            max_headers: 8,
            max_header_block: 256,
            max_content_length: 1024,
            max_event_headers: 16,
        }
    };
    let sizes =
        [usize::from(head[1]).max(1), usize::from(head[2]).max(1), usize::from(head[3]).max(1)];
    let mut d = Decoder::with_limits(limits);
    let mut pos = 0;
    let mut i = 0;
    'feed: while pos < bytes.len() {
        let end = (pos + sizes[i % 3]).min(bytes.len());
        d.feed(&bytes[pos..end]);
        pos = end;
        i += 1;
        loop {
            match d.decode() {
                Ok(Some(m)) => {
                    // Touch the parsed parts.
                    if let Some(ev) = m.event() {
                        let _ = (ev.name(), ev.var("x"), ev.sequence(), ev.body());
                    }
                    let _ = m.body_text();
                }
                Ok(None) => break,
                Err(e) if e.is_fatal() => break 'feed,
                Err(_) => {}
            }
        }
        // Memory stays bounded by the limits (line / header block / body).
        assert!(
            d.buffered()
                <= limits.max_header_block
                    + limits.max_content_length
                    + 4096
                    + sizes[0]
                    + sizes[1]
                    + sizes[2]
        );
    }
    let _ = d.finish();
    let _ = decode_to_json_lines(bytes, &mut std::io::sink());
});
