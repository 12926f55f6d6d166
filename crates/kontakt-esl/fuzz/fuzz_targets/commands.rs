//! Fuzz target: arbitrary bytes through the emulator-side `CommandDecoder` in arbitrary
//! chunking (first byte: chunk size). Any panic is a bug.
#![no_main]

use kontakt_esl::CommandDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&size, bytes)) = data.split_first() else {
        return;
    };
    let mut d = CommandDecoder::new();
    for chunk in bytes.chunks(usize::from(size).max(1)) {
        d.feed(chunk);
        loop {
            match d.decode() {
                Ok(Some(c)) => {
                    let _ = (c.name(), c.args(), c.header("content-length"), c.body().len());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = d.finish();
});
