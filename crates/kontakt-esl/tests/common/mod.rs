//! Helpers shared by the integration tests: locating the committed fixtures.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every `*.<ext>` file under the fixtures directory, sorted.
pub fn fixture_files(ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(fixtures_dir()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with(&format!(".{ext}")) {
                out.push(f);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no .{ext} fixtures found");
    out
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `dir/name.rx` -> `dir/name.<suffix>`
pub fn sibling(rx: &Path, suffix: &str) -> PathBuf {
    let s = rx.to_string_lossy();
    PathBuf::from(format!("{}.{suffix}", s.strip_suffix(".rx").unwrap()))
}
