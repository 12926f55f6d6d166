//! Deadlines: the legal clock of Law 393/96 and the service SLA, computed from times passed in.
//!
//! The Law counts **calendar days** and a term ends at the end of its last day, in the local
//! time of the body that considers the appeal. For a Ukrainian city that is `Europe/Kyiv`, so an
//! appeal received at 23:30 Kyiv time on 15 January (21:30 UTC) is a 15 January receipt, and a
//! due date falling on the day clocks change still ends at 23:59:59.999 *local* time. The SLA,
//! by contrast, runs in hours 24/7 from registration (appeals.md §5.3).
//!
//! Every function is pure and total: no clock is read and no input makes it panic (times near
//! the ends of chrono's range saturate instead of overflowing).

use chrono::{
    DateTime, Days, LocalResult, Months, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Europe::Kyiv;

use crate::appeal::LegalKind;
use crate::category::LegalTrack;
use crate::error::string_enum;

/// Art. 20: questions needing no extra study, at most 15 days.
pub const ART20_SHORT_DAYS: u64 = 15;
/// Art. 20: the absolute maximum including an extension, 45 days.
pub const ART20_MAX_DAYS: u64 = 45;
/// Art. 7: forward to the competent body within 5 days.
pub const ART7_FORWARD_DAYS: u64 = 5;
/// Art. 5: return a malformed appeal within 10 days.
pub const ART5_RETURN_DAYS: u64 = 10;
/// A rework window is never shorter than this (appeals.md §5.3 item 4).
pub const MIN_REWORK_HOURS: i64 = 24;

/// The local (Kyiv) calendar date of an instant.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    // Not `t.with_timezone(&Kyiv).date_naive()`: that panics when the local time falls outside
    // chrono's range (at `DateTime::MAX_UTC`).
    let utc = t.naive_utc();
    let offset = Kyiv.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset).map_or_else(|| utc.date(), |local| local.date())
}

/// The first instant of a Kyiv calendar day. Midnight is never skipped in Kyiv (clocks move at
/// 03:00/04:00), but if tz rules ever put a gap there we take the first existing minute.
fn start_of_local_day(date: NaiveDate) -> Option<DateTime<Utc>> {
    let mut t = date.and_time(NaiveTime::MIN);
    for _ in 0..=4 {
        match Kyiv.from_local_datetime(&t) {
            LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(earliest, _) => return Some(earliest.with_timezone(&Utc)),
            LocalResult::None => t = t.checked_add_signed(TimeDelta::minutes(30))?,
        }
    }
    None
}

/// The last millisecond (23:59:59.999 local) of a Kyiv calendar day, as UTC. `None` only at the
/// very end of chrono's date range.
pub fn end_of_local_day(date: NaiveDate) -> Option<DateTime<Utc>> {
    start_of_local_day(date.succ_opt()?)?.checked_sub_signed(TimeDelta::milliseconds(1))
}

/// End of the local day `days` calendar days after the local date of `from`.
fn end_of_day_after(from: DateTime<Utc>, days: u64) -> Option<DateTime<Utc>> {
    end_of_local_day(local_date(from).checked_add_days(Days::new(days))?)
}

/// `t + d`, saturating at chrono's range instead of panicking.
fn add(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Fallback for the (theoretical) end of the calendar: `from + days × 24 h`, saturating.
fn add_days_fallback(from: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    add(from, TimeDelta::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000)))
}

/// The Art. 20 due time of an appeal received at `received_at` in a category with `track`.
///
/// - [`LegalTrack::Art20Short`]: received + 15 calendar days, end of that local day.
/// - [`LegalTrack::Art20General`]: the same day of the next month, end of that local day; a day
///   the next month lacks clamps to its last day (31 January → 28/29 February, 31 March →
///   30 April).
/// - [`LegalTrack::ServiceRequest`]: `None` (see [`appeal_legal_due`] for appeals).
pub fn legal_due(received_at: DateTime<Utc>, track: LegalTrack) -> Option<DateTime<Utc>> {
    match track {
        LegalTrack::ServiceRequest => None,
        LegalTrack::Art20Short => end_of_day_after(received_at, ART20_SHORT_DAYS),
        LegalTrack::Art20General => {
            // chrono clamps to the month's last day, which is how a "month" term is read.
            end_of_local_day(local_date(received_at).checked_add_months(Months::new(1))?)
        }
    }
}

/// The legal due time of a whole appeal. Incident reports are outside the Law and have none.
/// Every other appeal is an appeal under Law 393/96 and must be answered within Art. 20 terms
/// even when its category is an operational service request; such a question needs no extra
/// study, so the 15-day term applies.
pub fn appeal_legal_due(
    received_at: DateTime<Utc>,
    kind: LegalKind,
    track: LegalTrack,
) -> Option<DateTime<Utc>> {
    match (kind, track) {
        (LegalKind::IncidentReport, _) => None,
        (_, LegalTrack::ServiceRequest) => legal_due(received_at, LegalTrack::Art20Short),
        (_, track) => legal_due(received_at, track),
    }
}

/// The latest of several questions' legal due times is the appeal's own term only if each
/// question is answered separately; the answer is one letter, so the appeal's term is the
/// earliest. `None` if no question has a legal term.
pub fn earliest(dues: impl IntoIterator<Item = Option<DateTime<Utc>>>) -> Option<DateTime<Utc>> {
    dues.into_iter().flatten().min()
}

/// Latest possible extended due: received + 45 calendar days, end of that local day (Art. 20).
pub fn max_extended_due(received_at: DateTime<Utc>) -> DateTime<Utc> {
    end_of_day_after(received_at, ART20_MAX_DAYS)
        .unwrap_or_else(|| add_days_fallback(received_at, ART20_MAX_DAYS))
}

/// Why an extension was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// Art. 20: the applicant must be informed of an extension; no notice is recorded.
    #[error("an extension needs a recorded notice to the applicant (Art. 20 of Law 393/96)")]
    NoticeRequired,
    /// The notice was recorded after the current term had already run out, so the term was
    /// missed; an extension cannot cure that retroactively.
    #[error(
        "the extension notice was sent at {notice_sent_at}, after the current due time {current_due}"
    )]
    NoticeAfterDue {
        /// When the notice was recorded.
        notice_sent_at: DateTime<Utc>,
        /// The term it should have extended.
        current_due: DateTime<Utc>,
    },
    /// The requested date is before the current due time.
    #[error("the requested due time {requested} is earlier than the current one {current}")]
    EarlierThanCurrent {
        /// Requested due (normalised to end of its local day).
        requested: DateTime<Utc>,
        /// Current due.
        current: DateTime<Utc>,
    },
    /// Beyond 45 days from receipt (Art. 20).
    #[error(
        "the requested due time {requested} is beyond the 45-day maximum {max} (Art. 20 of Law 393/96)"
    )]
    BeyondMaximum {
        /// Requested due (normalised to end of its local day).
        requested: DateTime<Utc>,
        /// The latest allowed.
        max: DateTime<Utc>,
    },
}

impl DeadlineError {
    /// Stable machine code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            DeadlineError::NoticeRequired => "extension_notice_required",
            DeadlineError::NoticeAfterDue { .. } => "extension_notice_late",
            DeadlineError::EarlierThanCurrent { .. } => "extension_earlier_than_current",
            DeadlineError::BeyondMaximum { .. } => "extension_beyond_maximum",
        }
    }
}

/// Extends an appeal's legal term (Art. 20: "if a month is not enough, the head sets a term and
/// informs the applicant; the total may not exceed 45 days").
///
/// The head sets a *date*, so the result is the end of `requested_due`'s local day. Refused
/// without a recorded notice, with a notice recorded after `current_due`, earlier than
/// `current_due`, or later than received + 45 days.
pub fn extend(
    received_at: DateTime<Utc>,
    current_due: DateTime<Utc>,
    requested_due: DateTime<Utc>,
    notice_sent_at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, DeadlineError> {
    let notice_sent_at = notice_sent_at.ok_or(DeadlineError::NoticeRequired)?;
    if notice_sent_at > current_due {
        return Err(DeadlineError::NoticeAfterDue { notice_sent_at, current_due });
    }
    let requested = end_of_local_day(local_date(requested_due)).unwrap_or(requested_due);
    if requested < current_due {
        return Err(DeadlineError::EarlierThanCurrent { requested, current: current_due });
    }
    let max = max_extended_due(received_at);
    if requested > max {
        return Err(DeadlineError::BeyondMaximum { requested, max });
    }
    Ok(requested)
}

/// Art. 7: an appeal outside our competence is forwarded (and the applicant told) within
/// 5 days of receipt; end of that local day.
pub fn forward_due(received_at: DateTime<Utc>) -> DateTime<Utc> {
    end_of_day_after(received_at, ART7_FORWARD_DAYS)
        .unwrap_or_else(|| add_days_fallback(received_at, ART7_FORWARD_DAYS))
}

/// Art. 5: a malformed appeal (no name, address or substance) is returned with an explanation
/// within 10 days of receipt; end of that local day.
pub fn return_malformed_due(received_at: DateTime<Utc>) -> DateTime<Utc> {
    end_of_day_after(received_at, ART5_RETURN_DAYS)
        .unwrap_or_else(|| add_days_fallback(received_at, ART5_RETURN_DAYS))
}

/// The service due time: `registered_at + sla_hours` (24/7, no calendar), but never after the
/// legal due time (appeals.md §5.3: the SLA due is always ≤ the legal due). `None` when neither
/// exists.
pub fn sla_due(
    registered_at: DateTime<Utc>,
    sla_hours: Option<u32>,
    legal_due: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let by_sla = sla_hours.map(|h| add(registered_at, TimeDelta::hours(i64::from(h))));
    match (by_sla, legal_due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The moment a question needs attention: `pct` percent of the way from `registered_at` to
/// `due` (default 75 %, the 1551 practice). `pct` above 100 is treated as 100; a `due` at or
/// before registration gives `due`.
pub fn attention_at(registered_at: DateTime<Utc>, due: DateTime<Utc>, pct: u8) -> DateTime<Utc> {
    let window = due.signed_duration_since(registered_at).num_milliseconds();
    if window <= 0 {
        return due;
    }
    let pct = i128::from(pct.min(100));
    let offset = i128::from(window) * pct / 100;
    let offset = i64::try_from(offset).unwrap_or(window);
    add(registered_at, TimeDelta::milliseconds(offset))
}

/// The new due time after a failed check: half the original window from `now`, but at least
/// 24 hours (appeals.md §5.3 item 4).
pub fn rework_due(now: DateTime<Utc>, original_window: TimeDelta) -> DateTime<Utc> {
    let half = original_window / 2;
    let min = TimeDelta::hours(MIN_REWORK_HOURS);
    add(now, if half > min { half } else { min })
}

string_enum! {
    /// Where a question stands against its due time (the 1551 department report's classes).
    pub enum DeadlineStatus ("deadline status") {
        /// Open, before the attention point.
        OnTime = "on_time",
        /// Open, past the attention point: escalate.
        Attention = "attention",
        /// Open, past the due time.
        Overdue = "overdue",
        /// Closed at or before the due time.
        ClosedOnTime = "closed_on_time",
        /// Closed after the due time.
        ClosedLate = "closed_late",
    }
}

/// Classifies a question at `now`. The due instant itself still counts as on time.
pub fn status(
    now: DateTime<Utc>,
    attention_at: DateTime<Utc>,
    due: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
) -> DeadlineStatus {
    match closed_at {
        Some(c) if c <= due => DeadlineStatus::ClosedOnTime,
        Some(_) => DeadlineStatus::ClosedLate,
        None if now > due => DeadlineStatus::Overdue,
        None if now >= attention_at => DeadlineStatus::Attention,
        None => DeadlineStatus::OnTime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn legal_due_table() {
        use LegalTrack::{Art20General as G, Art20Short as S};
        // (received, track, due) — all due times are 23:59:59.999 Kyiv: UTC+2 in winter, UTC+3
        // in summer.
        let cases: &[(&str, LegalTrack, &str)] = &[
            // Short track: 15 calendar days.
            ("2026-02-20T10:00:00Z", S, "2026-03-07T21:59:59.999Z"),
            ("2026-06-01T09:00:00Z", S, "2026-06-16T20:59:59.999Z"),
            // Month ends clamp.
            ("2027-01-31T08:00:00Z", G, "2027-02-28T21:59:59.999Z"),
            ("2028-01-31T08:00:00Z", G, "2028-02-29T21:59:59.999Z"),
            ("2028-01-30T08:00:00Z", G, "2028-02-29T21:59:59.999Z"),
            ("2028-01-29T08:00:00Z", G, "2028-02-29T21:59:59.999Z"),
            ("2026-03-31T08:00:00Z", G, "2026-04-30T20:59:59.999Z"),
            ("2026-05-31T08:00:00Z", G, "2026-06-30T20:59:59.999Z"),
            ("2026-08-31T08:00:00Z", G, "2026-09-30T20:59:59.999Z"),
            ("2026-01-15T08:00:00Z", G, "2026-02-15T21:59:59.999Z"),
            // Leap day itself.
            ("2028-02-29T08:00:00Z", G, "2028-03-29T20:59:59.999Z"),
            ("2028-02-29T08:00:00Z", S, "2028-03-15T21:59:59.999Z"),
            ("2028-02-14T08:00:00Z", S, "2028-02-29T21:59:59.999Z"),
            ("2027-02-14T08:00:00Z", S, "2027-03-01T21:59:59.999Z"),
            // Year end.
            ("2026-12-31T08:00:00Z", G, "2027-01-31T21:59:59.999Z"),
            ("2026-12-20T08:00:00Z", S, "2027-01-04T21:59:59.999Z"),
            // Due on the DST change days (2026: 29 March and 25 October): end of day is local.
            ("2026-03-14T12:00:00Z", S, "2026-03-29T20:59:59.999Z"),
            ("2026-10-10T12:00:00Z", S, "2026-10-25T21:59:59.999Z"),
            ("2026-02-28T12:00:00Z", G, "2026-03-28T21:59:59.999Z"),
            ("2026-09-25T12:00:00Z", G, "2026-10-25T21:59:59.999Z"),
            // Received on the DST change days, in the small hours.
            ("2026-03-29T01:30:00Z", S, "2026-04-13T20:59:59.999Z"),
            ("2026-10-25T00:30:00Z", S, "2026-11-09T21:59:59.999Z"),
            // Near local midnight: 23:30 Kyiv is still the same local day...
            ("2026-01-15T21:30:00Z", S, "2026-01-30T21:59:59.999Z"),
            ("2026-06-15T20:30:00Z", S, "2026-06-30T20:59:59.999Z"),
            // ...00:30 Kyiv is already the next one, though UTC still shows the previous date.
            ("2026-01-15T22:30:00Z", S, "2026-01-31T21:59:59.999Z"),
            ("2026-06-15T21:30:00Z", S, "2026-07-01T20:59:59.999Z"),
            ("2026-12-31T22:30:00Z", G, "2027-02-01T21:59:59.999Z"),
            ("2027-01-30T22:30:00Z", G, "2027-02-28T21:59:59.999Z"),
        ];
        for (received, track, want) in cases {
            assert_eq!(legal_due(utc(received), *track), Some(utc(want)), "{received} {track}");
        }
        assert_eq!(legal_due(utc("2026-01-15T08:00:00Z"), LegalTrack::ServiceRequest), None);
    }

    #[test]
    fn due_is_local_end_of_day() {
        let due = legal_due(utc("2026-03-14T12:00:00Z"), LegalTrack::Art20Short).unwrap();
        let local = due.with_timezone(&Kyiv);
        assert_eq!(
            local.format("%Y-%m-%d %H:%M:%S%.3f %z").to_string(),
            "2026-03-29 23:59:59.999 +0300"
        );
        let due = legal_due(utc("2026-10-10T12:00:00Z"), LegalTrack::Art20Short).unwrap();
        let local = due.with_timezone(&Kyiv);
        assert_eq!(
            local.format("%Y-%m-%d %H:%M:%S%.3f %z").to_string(),
            "2026-10-25 23:59:59.999 +0200"
        );
    }

    #[test]
    fn appeal_legal_due_by_kind() {
        let r = utc("2026-02-20T10:00:00Z");
        assert_eq!(appeal_legal_due(r, LegalKind::IncidentReport, LegalTrack::Art20General), None);
        assert_eq!(
            appeal_legal_due(r, LegalKind::Application, LegalTrack::ServiceRequest),
            legal_due(r, LegalTrack::Art20Short)
        );
        assert_eq!(
            appeal_legal_due(r, LegalKind::Complaint, LegalTrack::Art20General),
            legal_due(r, LegalTrack::Art20General)
        );
        assert_eq!(
            earliest([None, Some(utc("2026-03-01T00:00:00Z")), Some(utc("2026-02-01T00:00:00Z"))]),
            Some(utc("2026-02-01T00:00:00Z"))
        );
        assert_eq!(earliest([None, None]), None);
    }

    #[test]
    fn art7_and_art5_terms() {
        let cases: &[(&str, &str, &str)] = &[
            ("2026-02-20T10:00:00Z", "2026-02-25T21:59:59.999Z", "2026-03-02T21:59:59.999Z"),
            ("2028-02-25T10:00:00Z", "2028-03-01T21:59:59.999Z", "2028-03-06T21:59:59.999Z"),
            ("2026-03-26T10:00:00Z", "2026-03-31T20:59:59.999Z", "2026-04-05T20:59:59.999Z"),
            // 23:30 Kyiv vs 00:30 Kyiv.
            ("2026-01-15T21:30:00Z", "2026-01-20T21:59:59.999Z", "2026-01-25T21:59:59.999Z"),
            ("2026-01-15T22:30:00Z", "2026-01-21T21:59:59.999Z", "2026-01-26T21:59:59.999Z"),
        ];
        for (received, fwd, ret) in cases {
            assert_eq!(forward_due(utc(received)), utc(fwd), "forward {received}");
            assert_eq!(return_malformed_due(utc(received)), utc(ret), "return {received}");
        }
    }

    #[test]
    fn extension_table() {
        let received = utc("2026-01-10T08:00:00Z");
        let current = legal_due(received, LegalTrack::Art20General).unwrap(); // 2026-02-10 end
        assert_eq!(current, utc("2026-02-10T21:59:59.999Z"));
        let notice = Some(utc("2026-02-05T09:00:00Z"));
        let max = utc("2026-02-24T21:59:59.999Z"); // 10 Jan + 45 days = 24 Feb
        assert_eq!(max_extended_due(received), max);

        // Allowed: normalised to the end of the requested local day.
        assert_eq!(
            extend(received, current, utc("2026-02-20T10:00:00Z"), notice),
            Ok(utc("2026-02-20T21:59:59.999Z"))
        );
        assert_eq!(extend(received, current, max, notice), Ok(max));
        assert_eq!(extend(received, current, utc("2026-02-24T00:00:00Z"), notice), Ok(max));
        assert_eq!(extend(received, current, current, notice), Ok(current));
        // Notice exactly at the due time is still in time.
        assert_eq!(extend(received, current, max, Some(current)), Ok(max));

        type Refusal = (DateTime<Utc>, Option<DateTime<Utc>>, &'static str);
        let refusals: &[Refusal] = &[
            (utc("2026-02-20T10:00:00Z"), None, "extension_notice_required"),
            (
                utc("2026-02-20T10:00:00Z"),
                Some(utc("2026-02-11T08:00:00Z")),
                "extension_notice_late",
            ),
            (utc("2026-02-09T10:00:00Z"), notice, "extension_earlier_than_current"),
            // 25 Feb 00:30 Kyiv is already the 46th day.
            (utc("2026-02-24T22:30:00Z"), notice, "extension_beyond_maximum"),
            (utc("2026-03-10T10:00:00Z"), notice, "extension_beyond_maximum"),
        ];
        for (requested, notice, code) in refusals {
            let err =
                extend(received, current, *requested, *notice).expect_err("should be refused");
            assert_eq!(err.code(), *code, "{requested}: {err}");
        }
        assert!(
            extend(received, current, current, None).unwrap_err().to_string().contains("Art. 20")
        );
    }

    #[test]
    fn max_extension_across_leap_and_dst() {
        let cases: &[(&str, &str)] = &[
            ("2028-01-20T10:00:00Z", "2028-03-05T21:59:59.999Z"),
            ("2027-01-20T10:00:00Z", "2027-03-06T21:59:59.999Z"),
            ("2026-02-12T10:00:00Z", "2026-03-29T20:59:59.999Z"),
        ];
        for (received, want) in cases {
            assert_eq!(max_extended_due(utc(received)), utc(want), "{received}");
        }
    }

    #[test]
    fn sla_due_table() {
        let reg = utc("2026-03-28T22:00:00Z");
        let legal = Some(utc("2026-04-12T20:59:59.999Z"));
        type Case = (Option<u32>, Option<DateTime<Utc>>, Option<&'static str>);
        let cases: &[Case] = &[
            // 24 h across the spring DST change is 24 real hours, not a calendar day.
            (Some(24), legal, Some("2026-03-29T22:00:00Z")),
            (Some(1), None, Some("2026-03-28T23:00:00Z")),
            // SLA longer than the legal term is cut to the legal due.
            (Some(1000), legal, Some("2026-04-12T20:59:59.999Z")),
            (None, legal, Some("2026-04-12T20:59:59.999Z")),
            (None, None, None),
        ];
        for (hours, legal, want) in cases {
            assert_eq!(sla_due(reg, *hours, *legal), want.map(utc), "{hours:?}");
        }
    }

    #[test]
    fn attention_and_rework() {
        let reg = utc("2026-05-01T00:00:00Z");
        let due = utc("2026-05-02T00:00:00Z");
        let cases: &[(u8, &str)] = &[
            (75, "2026-05-01T18:00:00Z"),
            (50, "2026-05-01T12:00:00Z"),
            (0, "2026-05-01T00:00:00Z"),
            (100, "2026-05-02T00:00:00Z"),
            (200, "2026-05-02T00:00:00Z"),
        ];
        for (pct, want) in cases {
            assert_eq!(attention_at(reg, due, *pct), utc(want), "{pct}%");
        }
        assert_eq!(attention_at(due, reg, 75), reg, "due before registration");
        let far = DateTime::<Utc>::MAX_UTC;
        assert!(attention_at(DateTime::<Utc>::MIN_UTC, far, 75) < far);

        let now = utc("2026-05-03T10:00:00Z");
        let rework: &[(TimeDelta, &str)] = &[
            (TimeDelta::hours(24), "2026-05-04T10:00:00Z"),
            (TimeDelta::hours(2), "2026-05-04T10:00:00Z"),
            (TimeDelta::hours(72), "2026-05-04T22:00:00Z"),
            (TimeDelta::days(30), "2026-05-18T10:00:00Z"),
            (TimeDelta::hours(-5), "2026-05-04T10:00:00Z"),
        ];
        for (window, want) in rework {
            assert_eq!(rework_due(now, *window), utc(want), "{window}");
        }
        assert_eq!(
            rework_due(DateTime::<Utc>::MAX_UTC, TimeDelta::days(10)),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn status_table() {
        let att = utc("2026-05-01T18:00:00Z");
        let due = utc("2026-05-02T00:00:00Z");
        let cases: &[(&str, Option<&str>, DeadlineStatus)] = &[
            ("2026-05-01T10:00:00Z", None, DeadlineStatus::OnTime),
            ("2026-05-01T18:00:00Z", None, DeadlineStatus::Attention),
            ("2026-05-01T23:59:59Z", None, DeadlineStatus::Attention),
            ("2026-05-02T00:00:00Z", None, DeadlineStatus::Attention),
            ("2026-05-02T00:00:01Z", None, DeadlineStatus::Overdue),
            ("2026-05-09T00:00:00Z", Some("2026-05-01T12:00:00Z"), DeadlineStatus::ClosedOnTime),
            ("2026-05-09T00:00:00Z", Some("2026-05-02T00:00:00Z"), DeadlineStatus::ClosedOnTime),
            ("2026-05-09T00:00:00Z", Some("2026-05-03T00:00:00Z"), DeadlineStatus::ClosedLate),
            ("2026-05-01T00:00:00Z", Some("2026-05-03T00:00:00Z"), DeadlineStatus::ClosedLate),
        ];
        for (now, closed, want) in cases {
            assert_eq!(status(utc(now), att, due, closed.map(utc)), *want, "{now} {closed:?}");
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for track in LegalTrack::ALL {
                let _ = legal_due(t, *track);
            }
            let _ = forward_due(t);
            let _ = return_malformed_due(t);
            let _ = max_extended_due(t);
            let _ = extend(t, t, t, Some(t));
            let _ = sla_due(t, Some(u32::MAX), None);
            let _ = rework_due(t, TimeDelta::MAX);
            let _ = attention_at(t, t, 75);
        }
    }

    proptest::proptest! {
        #[test]
        fn legal_terms_are_ordered(secs in 946_684_800i64..4_102_444_800i64) {
            let r = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let short = legal_due(r, LegalTrack::Art20Short).unwrap();
            let general = legal_due(r, LegalTrack::Art20General).unwrap();
            let max = max_extended_due(r);
            proptest::prop_assert!(r < forward_due(r) && forward_due(r) < return_malformed_due(r));
            proptest::prop_assert!(return_malformed_due(r) < short && short < general && general < max);
            // Every term ends at 23:59:59.999 local.
            for t in [short, general, max, forward_due(r)] {
                let l = t.with_timezone(&Kyiv);
                proptest::prop_assert_eq!(l.format("%H:%M:%S%.3f").to_string(), "23:59:59.999");
            }
            // A full extension with notice is always possible from the general term.
            proptest::prop_assert_eq!(extend(r, general, max, Some(r)), Ok(max));
        }
    }
}
