//! Recording retention: call recordings and voicemail messages older than
//! `[callcenter.recording] retention_days` are deleted.
//!
//! FreeSWITCH writes the files. When its recording directory is on Kontakt's machine (one
//! server, or a shared mount) Kontakt sweeps it hourly; when the directory does not exist
//! here, the FreeSWITCH node's own timer (`deploy/freeswitch/kontakt-recordings-cleanup.*`)
//! does the same job and Kontakt says so once in its log.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::metrics::Metrics;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub deleted: u64,
    pub kept: u64,
    /// Files that could not be read or deleted (logged one by one).
    pub failed: u64,
}

/// Deletes audio files (`.wav`, `.mp3`, `.ogg`, `.gsm`) under `dir` last modified before
/// `cutoff`, and the day directories that leaves empty. Never follows symbolic links, never
/// touches other files, never deletes `dir` itself.
pub fn sweep(dir: &Path, cutoff: SystemTime) -> Swept {
    let mut s = Swept::default();
    walk(dir, cutoff, &mut s, 0);
    s
}

fn walk(dir: &Path, cutoff: SystemTime, s: &mut Swept, depth: u32) -> bool {
    // Deeper than <dir>/voicemail/yyyy/mm/dd is not ours.
    if depth > 5 {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        s.failed += 1;
        tracing::warn!(dir = %dir.display(), "recordings directory cannot be read");
        return false;
    };
    let mut empty = true;
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            s.failed += 1;
            empty = false;
            continue;
        };
        if meta.is_dir() {
            // Day directories that held only expired files go; `voicemail/` stays.
            let keep_dir = depth == 0 && e.file_name() == "voicemail";
            if walk(&path, cutoff, s, depth + 1) && !keep_dir && std::fs::remove_dir(&path).is_ok()
            {
                continue;
            }
            empty = false;
            continue;
        }
        let audio = path.extension().and_then(|x| x.to_str()).is_some_and(|x| {
            ["wav", "mp3", "ogg", "gsm"].contains(&x.to_ascii_lowercase().as_str())
        });
        let old = meta.modified().is_ok_and(|m| m < cutoff);
        if meta.is_file() && audio && old {
            match std::fs::remove_file(&path) {
                Ok(()) => s.deleted += 1,
                Err(err) => {
                    s.failed += 1;
                    empty = false;
                    tracing::warn!(file = %path.display(), error = %err, "expired recording not deleted");
                }
            }
        } else {
            s.kept += u64::from(audio);
            empty = false;
        }
    }
    empty
}

/// Sweeps `dir` now and every hour after, while the process runs.
pub(crate) fn spawn(dir: String, retention_days: u32, metrics: Arc<Metrics>) {
    if retention_days == 0 {
        return;
    }
    tokio::spawn(async move {
        let keep = Duration::from_secs(u64::from(retention_days) * 86_400);
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        let mut told = false;
        loop {
            tick.tick().await;
            let path = std::path::PathBuf::from(&dir);
            if !path.is_dir() {
                if !told {
                    tracing::info!(
                        dir,
                        "recordings are not on this machine: the FreeSWITCH node's cleanup timer keeps the retention"
                    );
                    told = true;
                }
                continue;
            }
            let Some(cutoff) = SystemTime::now().checked_sub(keep) else { continue };
            let Ok(s) = tokio::task::spawn_blocking(move || sweep(&path, cutoff)).await else {
                continue;
            };
            metrics.recordings_deleted.fetch_add(s.deleted, Ordering::Relaxed);
            if s.deleted > 0 || s.failed > 0 {
                tracing::info!(
                    dir,
                    deleted = s.deleted,
                    kept = s.kept,
                    failed = s.failed,
                    "recording retention applied"
                );
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &Path, age_days: u64) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let f = std::fs::File::create(p).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_days * 86_400)).unwrap();
    }

    #[test]
    fn old_recordings_go_new_ones_and_other_files_stay() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        file(&root.join("2026/01/02/a.wav"), 120);
        file(&root.join("2026/01/02/b.WAV"), 120);
        file(&root.join("voicemail/2026/01/03/c.wav"), 100);
        file(&root.join("2026/11/29/d.wav"), 1);
        file(&root.join("2026/01/05/notes.txt"), 120);
        let s = sweep(root, SystemTime::now() - Duration::from_secs(90 * 86_400));
        assert_eq!(s, Swept { deleted: 3, kept: 1, failed: 0 });
        assert!(!root.join("2026/01/02").exists(), "emptied day directories go too");
        assert!(!root.join("voicemail/2026").exists());
        assert!(root.join("voicemail").is_dir());
        assert!(root.join("2026/11/29/d.wav").exists());
        assert!(root.join("2026/01/05/notes.txt").exists());
        assert!(root.exists());
    }

    #[test]
    fn a_missing_directory_is_reported_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let s = sweep(&d.path().join("nope"), SystemTime::now());
        assert_eq!(s.failed, 1);
    }
}
