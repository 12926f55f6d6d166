//! Repeat and duplicate detection over a handful of earlier questions the storage layer fetched
//! (same building key and category). Pure functions: what to fetch is the caller's business,
//! what counts as a match is decided here.

use chrono::{DateTime, Utc};

use crate::lifecycle::AssignmentState;

/// An earlier question, reduced to what matching needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PriorQuestion {
    /// Its appeal.
    pub appeal_id: i64,
    /// The question itself.
    pub question_id: i64,
    /// Its applicant, if any (incident reports have none).
    pub applicant_id: Option<i64>,
    /// Its category code.
    pub category_code: String,
    /// [`crate::Address::building_key`] of its address, if it had one.
    pub building_key: Option<String>,
    /// State of its main assignment.
    pub state: AssignmentState,
    /// It was answered on the merits (result done, explained or impossible now; see
    /// [`crate::Resolution::is_on_merits`]).
    pub resolved_on_merits: bool,
    /// When it was closed, if it was.
    pub closed_at: Option<DateTime<Utc>>,
}

/// Finds the earlier question that makes a new one a **repeat** under Art. 8 of Law 393/96:
/// same applicant, same category, same building, and the earlier one already closed with an
/// answer on the merits. The most recently closed match wins.
///
/// A repeat is still registered and answered; it is flagged `repeat_of` and routed to a
/// supervisor (appeals.md §5.4). Because the flag has consequences for the citizen, matching is
/// conservative: a question without an address is never called a repeat (the category alone
/// cannot tell "the same question" from a new one), and neither is one without a known
/// applicant (`applicant_id` = `None`: an anonymous incident report has no "same person").
pub fn find_repeat<'a>(
    applicant_id: Option<i64>,
    category_code: &str,
    building_key: Option<&str>,
    prior: &'a [PriorQuestion],
) -> Option<&'a PriorQuestion> {
    let applicant_id = applicant_id?;
    let key = building_key.filter(|k| !k.is_empty())?;
    prior
        .iter()
        .filter(|p| {
            p.applicant_id == Some(applicant_id)
                && p.category_code == category_code
                && p.building_key.as_deref() == Some(key)
                && p.state == AssignmentState::Closed
                && p.resolved_on_merits
        })
        .max_by_key(|p| (p.closed_at, p.question_id))
}

/// Open questions that are probably the **same problem** reported again (appeals.md §5.4): same
/// building and category, not yet closed or cancelled, from any applicant. The operator is
/// offered "join existing" instead of creating another assignment. Newest first (by question
/// id).
pub fn duplicate_candidates<'a>(
    category_code: &str,
    building_key: Option<&str>,
    prior: &'a [PriorQuestion],
) -> Vec<&'a PriorQuestion> {
    let Some(key) = building_key.filter(|k| !k.is_empty()) else {
        return Vec::new();
    };
    let mut found: Vec<&PriorQuestion> = prior
        .iter()
        .filter(|p| {
            p.category_code == category_code
                && p.building_key.as_deref() == Some(key)
                && p.state.is_open()
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.question_id));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssignmentState as S;

    fn t(day: u32) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T10:00:00Z"))
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    fn p(
        id: i64,
        applicant: Option<i64>,
        cat: &str,
        key: Option<&str>,
        state: S,
        merits: bool,
        closed: Option<u32>,
    ) -> PriorQuestion {
        PriorQuestion {
            appeal_id: id * 10,
            question_id: id,
            applicant_id: applicant,
            category_code: cat.into(),
            building_key: key.map(str::to_owned),
            state,
            resolved_on_merits: merits,
            closed_at: closed.and_then(t),
        }
    }

    const K: &str = "соборна|12";
    const CAT: &str = "water.no_cold_water";

    fn prior() -> Vec<PriorQuestion> {
        vec![
            p(1, Some(7), CAT, Some(K), S::Closed, true, Some(3)),
            p(2, Some(7), CAT, Some(K), S::Closed, true, Some(10)),
            p(3, Some(7), CAT, Some(K), S::Closed, false, Some(20)), // closed, not on the merits
            p(4, Some(7), CAT, Some(K), S::Cancelled, false, Some(21)),
            p(5, Some(8), CAT, Some(K), S::Closed, true, Some(22)), // someone else
            p(6, Some(7), "heating.no_heating", Some(K), S::Closed, true, Some(23)),
            p(7, Some(7), CAT, Some("соборна|14"), S::Closed, true, Some(24)),
            p(8, Some(9), CAT, Some(K), S::InWork, false, None),
            p(9, None, CAT, Some(K), S::Registered, false, None),
            p(10, Some(7), CAT, Some(K), S::OnCheck, false, None),
            p(11, Some(7), CAT, Some(K), S::Rework, false, None),
            p(12, None, CAT, None, S::Registered, false, None),
        ]
    }

    #[test]
    fn repeat_table() {
        let prior = prior();
        type Case = (Option<i64>, &'static str, Option<&'static str>, Option<i64>);
        let cases: &[Case] = &[
            (Some(7), CAT, Some(K), Some(2)), // latest closed on the merits, not #3 or #4
            (Some(8), CAT, Some(K), Some(5)),
            (Some(9), CAT, Some(K), None), // #8 is still open: duplicate, not repeat
            (Some(7), "heating.no_heating", Some(K), Some(6)),
            (Some(7), CAT, Some("соборна|14"), Some(7)),
            (Some(7), CAT, Some("соборна|16"), None),
            (Some(7), CAT, None, None), // no address: never a repeat
            (Some(7), CAT, Some(""), None),
            (Some(1), CAT, Some(K), None),
            (None, CAT, Some(K), None), // no applicant: never a repeat
        ];
        for (applicant, cat, key, want) in cases {
            let got = find_repeat(*applicant, cat, *key, &prior).map(|p| p.question_id);
            assert_eq!(got, *want, "applicant {applicant:?} {cat} {key:?}");
        }
        assert_eq!(find_repeat(Some(7), CAT, Some(K), &[]), None);
    }

    #[test]
    fn duplicate_table() {
        let prior = prior();
        let ids = |cat: &str, key: Option<&str>| {
            duplicate_candidates(cat, key, &prior).iter().map(|p| p.question_id).collect::<Vec<_>>()
        };
        assert_eq!(ids(CAT, Some(K)), [11, 10, 9, 8]);
        assert_eq!(ids("heating.no_heating", Some(K)), Vec::<i64>::new());
        assert_eq!(ids(CAT, Some("соборна|14")), Vec::<i64>::new());
        assert_eq!(ids(CAT, None), Vec::<i64>::new(), "no building, no suggestion");
        assert_eq!(ids("lift.stopped", Some(K)), Vec::<i64>::new());
    }
}
