//! Calls FreeSWITCH took in degraded mode (Kontakt's socket unreachable): read back from the
//! CDR file so they get a record and, where the caller asked for one, a callback.
//!
//! `deploy/freeswitch/cdr_csv.conf.xml` writes every A-leg with the `kontakt` template:
//! sixteen double-quoted columns, in this order: uuid, start, answer, end, hangup cause,
//! node, line, carrier, dialled number, caller number, degraded, reason, outcome, callback
//! number, recording, bridged to. Only rows with `degraded` = `true` concern us. Times are
//! FreeSWITCH's local time (`%Y-%m-%d %H:%M:%S`), read as Europe/Kyiv.
//!
//! Sans-IO: [`parse_line`] turns one line into a [`DegradedCall`]; [`CdrTail`] keeps the
//! read position of a growing (and rotated) file over chunks the caller reads.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;

/// One call the dialplan served without Kontakt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DegradedCall {
    pub uuid: String,
    pub node: String,
    pub line: Option<String>,
    pub carrier: Option<String>,
    pub dialled: String,
    pub caller: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub hangup_cause: String,
    /// `esl_unreachable` or `esl_lost`.
    pub reason: String,
    /// `operator_answered`, `abandoned` or `callback_requested`.
    pub outcome: String,
    pub callback_number: Option<String>,
    pub recording: Option<String>,
    pub bridged_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    #[error("not a quoted CSV row")]
    NotQuoted,
    #[error("{0} columns, expected 16")]
    Columns(usize),
    #[error("no call UUID")]
    NoUuid,
    #[error("start time {0:?} is not YYYY-MM-DD HH:MM:SS")]
    BadTime(String),
}

const COLUMNS: usize = 16;

/// `Ok(None)` for a row of a call Kontakt served itself (not degraded).
pub fn parse_line(line: &str) -> Result<Option<DegradedCall>, CdrError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let inner =
        line.strip_prefix('"').and_then(|l| l.strip_suffix('"')).ok_or(CdrError::NotQuoted)?;
    // cdr_csv does not escape quotes inside values; `","` is the only separator that
    // cannot occur in the values we write (numbers, names, paths, causes).
    let cols: Vec<&str> = inner.split("\",\"").collect();
    if cols.len() != COLUMNS {
        return Err(CdrError::Columns(cols.len()));
    }
    if cols[10] != "true" {
        return Ok(None);
    }
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let uuid = opt(cols[0]).ok_or(CdrError::NoUuid)?;
    let started_at = time(cols[1])?.ok_or_else(|| CdrError::BadTime(cols[1].to_owned()))?;
    Ok(Some(DegradedCall {
        uuid,
        node: cols[5].trim().to_owned(),
        line: opt(cols[6]),
        carrier: opt(cols[7]),
        dialled: cols[8].trim().to_owned(),
        caller: cols[9].trim().to_owned(),
        started_at,
        answered_at: time(cols[2]).ok().flatten(),
        ended_at: time(cols[3]).ok().flatten(),
        hangup_cause: opt(cols[4]).unwrap_or_else(|| "UNKNOWN".into()),
        reason: opt(cols[11]).unwrap_or_else(|| "esl_unreachable".into()),
        outcome: opt(cols[12]).unwrap_or_else(|| "abandoned".into()),
        callback_number: opt(cols[13]),
        recording: opt(cols[14]),
        bridged_to: opt(cols[15]),
    }))
}

/// FreeSWITCH's local `YYYY-MM-DD HH:MM:SS`; empty means "never".
fn time(s: &str) -> Result<Option<DateTime<Utc>>, CdrError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| CdrError::BadTime(s.to_owned()))?;
    // In the autumn hour that happens twice, the earlier reading; in the spring gap, the
    // instant after it (FreeSWITCH never writes one, but a hand-edited file might).
    let local = Kyiv
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| Kyiv.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
        .ok_or_else(|| CdrError::BadTime(s.to_owned()))?;
    Ok(Some(local.with_timezone(&Utc)))
}

/// The read position in one CDR file. Feed it what was read from `offset()`; it returns
/// the complete lines and keeps a partial last line for next time. A file shorter than the
/// position was rotated: start again from its beginning.
#[derive(Debug, Default, Clone)]
pub struct CdrTail {
    offset: u64,
}

impl CdrTail {
    /// Where to read from, given the file's current length.
    pub fn offset(&mut self, len: u64) -> u64 {
        if len < self.offset {
            self.offset = 0;
        }
        self.offset
    }

    /// The complete lines of `chunk` (read from `offset()`); the position moves past them.
    pub fn lines<'a>(&mut self, chunk: &'a [u8]) -> Vec<&'a str> {
        let Some(end) = chunk.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
        self.offset += end as u64 + 1;
        chunk[..end]
            .split(|b| *b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = r#""8f5b0a52-0d54-4e0e-9b5e-6c1d2f1c0a01","2026-11-30 16:40:43","","2026-11-30 16:42:10","NORMAL_CLEARING","fs1","short_1580","kyivstar","1580","0671234567","true","esl_unreachable","callback_requested","0501234567","/var/lib/freeswitch/recordings/kontakt-degraded/8f5b0a52-0d54-4e0e-9b5e-6c1d2f1c0a01.wav","""#;

    #[test]
    fn a_degraded_row_is_read_with_kyiv_times() {
        let c = parse_line(&format!("{ROW}\n")).unwrap().unwrap();
        assert_eq!(c.uuid, "8f5b0a52-0d54-4e0e-9b5e-6c1d2f1c0a01");
        // 16:40:43 in Kyiv on 30 November (EET, UTC+2) is 14:40:43 UTC.
        assert_eq!(c.started_at.to_rfc3339(), "2026-11-30T14:40:43+00:00");
        assert_eq!(c.answered_at, None);
        assert_eq!(c.ended_at.unwrap().to_rfc3339(), "2026-11-30T14:42:10+00:00");
        assert_eq!((c.node.as_str(), c.line.as_deref()), ("fs1", Some("short_1580")));
        assert_eq!(c.outcome, "callback_requested");
        assert_eq!(c.callback_number.as_deref(), Some("0501234567"));
        assert_eq!(c.bridged_to, None);
        // Summer time: UTC+3.
        let summer = ROW.replace("2026-11-30 16:40:43", "2026-07-01 12:00:00");
        assert_eq!(
            parse_line(&summer).unwrap().unwrap().started_at.to_rfc3339(),
            "2026-07-01T09:00:00+00:00"
        );
    }

    #[test]
    fn rows_kontakt_served_are_skipped_and_bad_rows_are_errors() {
        let served = ROW.replace(r#""true","esl_unreachable""#, r#""","""#);
        assert_eq!(parse_line(&served), Ok(None));
        assert_eq!(parse_line("uuid,start"), Err(CdrError::NotQuoted));
        assert_eq!(parse_line(r#""a","b""#), Err(CdrError::Columns(2)));
        let bad_time = ROW.replace("2026-11-30 16:40:43", "yesterday");
        assert!(matches!(parse_line(&bad_time), Err(CdrError::BadTime(_))));
        let no_uuid = ROW.replace("8f5b0a52-0d54-4e0e-9b5e-6c1d2f1c0a01\",\"2026", "\",\"2026");
        assert_eq!(parse_line(&no_uuid), Err(CdrError::NoUuid));
        for junk in ["", "\"", "\"\"\"", "\u{0}\"", "\"\",\"\""] {
            let _ = parse_line(junk);
        }
    }

    #[test]
    fn the_tail_keeps_partial_lines_and_notices_rotation() {
        let mut t = CdrTail::default();
        let data = b"one\ntwo\nthr";
        assert_eq!(t.offset(data.len() as u64), 0);
        assert_eq!(t.lines(data), ["one", "two"]);
        assert_eq!(t.offset(data.len() as u64), 8);
        let more = b"three\n";
        assert_eq!(t.lines(&b"three\n"[..]), ["three"]);
        assert_eq!(t.offset(8 + more.len() as u64), 14);
        assert_eq!(t.lines(b"no newline yet"), Vec::<&str>::new());
        assert_eq!(t.offset(14), 14);
        // Rotated: the new file is shorter than where we were.
        assert_eq!(t.offset(5), 0);
    }
}
