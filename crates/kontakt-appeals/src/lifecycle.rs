//! The assignment state machine: which actor may move an assignment from which state, with
//! which result, to which state.
//!
//! The rules are data ([`TRANSITIONS`]), in the manner of Kyiv 1551's
//! `TransitionAssignmentStates` table, and [`transition`] is the only place that enforces them.
//! The storage layer stores the resulting state and writes the timeline entry; it never decides
//! a transition itself. States, results and meanings follow appeals.md §5.2.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::string_enum;

string_enum! {
    /// Where an assignment (one order to one executor) stands.
    pub enum AssignmentState ("assignment state") {
        /// Created and routed, not yet accepted by the executor.
        Registered = "registered",
        /// The executor accepted it and is working.
        InWork = "in_work",
        /// The executor reported a result; waiting for the controller's or citizen's check.
        OnCheck = "on_check",
        /// The check failed; back with the executor.
        Rework = "rework",
        /// Finished (final).
        Closed = "closed",
        /// Withdrawn, duplicate or created in error (final).
        Cancelled = "cancelled",
    }
}

impl AssignmentState {
    /// Closed and cancelled assignments never move again.
    pub fn is_final(&self) -> bool {
        matches!(self, AssignmentState::Closed | AssignmentState::Cancelled)
    }

    /// The opposite of [`is_final`](Self::is_final): the assignment still needs work.
    pub fn is_open(&self) -> bool {
        !self.is_final()
    }
}

string_enum! {
    /// The result an executor reports.
    pub enum Resolution ("resolution") {
        /// Work performed (виконано).
        Done = "done",
        /// Consultation or legal explanation given; no physical work (роз'яснено).
        Explained = "explained",
        /// Wrong executor: back to the dispatcher for re-routing. Counts against the routing
        /// table, not the executor (appeals.md §7).
        NotInCompetence = "not_in_competence",
        /// Needs capital repair, a season or a budget; a planned date is given.
        ImpossibleNow = "impossible_now",
        /// A sub-executor returns it to the parent organisation.
        Returned = "returned",
        /// Same as an existing question or event.
        Duplicate = "duplicate",
    }
}

impl Resolution {
    /// The applicant got an answer on the merits, which is what makes a later identical appeal a
    /// "repeat" under Art. 8 of Law 393/96. Re-routing, returns and duplicates decide nothing.
    pub fn is_on_merits(&self) -> bool {
        matches!(self, Resolution::Done | Resolution::Explained | Resolution::ImpossibleNow)
    }
}

string_enum! {
    /// What someone does to an assignment.
    pub enum Action ("action") {
        /// Executor takes the assignment into work.
        Accept = "accept",
        /// Executor reports a result (requires a [`Resolution`]).
        Report = "report",
        /// Controller (or the citizen via a bot) confirms the work was done.
        Confirm = "confirm",
        /// Controller (or the citizen) says it was not done: back to rework.
        Reject = "reject",
        /// The applicant could not be reached for verification after the allowed attempts.
        Unreachable = "unreachable",
        /// Withdraw the assignment (optionally as a duplicate).
        Cancel = "cancel",
        /// Dispatcher sends it to another executor.
        Reroute = "reroute",
    }
}

impl Action {
    /// This action must carry a result.
    pub fn requires_result(&self) -> bool {
        matches!(self, Action::Report)
    }

    /// The assignment's `rework_count` goes up by one when this action succeeds.
    pub fn increments_rework(&self) -> bool {
        matches!(self, Action::Reject)
    }
}

string_enum! {
    /// Who acts. Maps onto user roles; `System` is the platform itself (timers, the
    /// verification bot relaying the citizen's answer).
    pub enum ActorKind ("actor kind") {
        /// Contact-centre operator.
        Operator = "operator",
        /// The executor organisation's staff.
        Executor = "executor",
        /// Verifies results (calls the applicant back).
        Controller = "controller",
        /// Shift or department head.
        Supervisor = "supervisor",
        /// Administrator: may do whatever a controller or supervisor may.
        Admin = "admin",
        /// The platform (bot verification, automatic closing).
        System = "system",
    }
}

impl ActorKind {
    /// True if this actor may perform a rule written for `rule_actor`.
    pub fn acts_as(&self, rule_actor: ActorKind) -> bool {
        *self == rule_actor
            || (*self == ActorKind::Admin
                && matches!(rule_actor, ActorKind::Controller | ActorKind::Supervisor))
    }
}

/// One allowed move. For [`Action::Report`] `result` names the reported result; for every other
/// action `result` is what the action may optionally carry (`None` = no result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TransitionRule {
    /// State before.
    pub from: AssignmentState,
    /// What is done.
    pub action: Action,
    /// Result carried by the action (`None`: none).
    pub result: Option<Resolution>,
    /// State after.
    pub to: AssignmentState,
    /// Who may do it ([`ActorKind::Admin`] additionally inherits controller and supervisor rows).
    pub actor: ActorKind,
}

const fn rule(
    from: AssignmentState,
    action: Action,
    result: Option<Resolution>,
    to: AssignmentState,
    actor: ActorKind,
) -> TransitionRule {
    TransitionRule { from, action, result, to, actor }
}

use Action as A;
use ActorKind as Who;
use AssignmentState as S;
use Resolution as R;

/// Every allowed transition. Anything not listed is illegal.
pub static TRANSITIONS: &[TransitionRule] = &[
    // The executor takes the order.
    rule(S::Registered, A::Accept, None, S::InWork, Who::Executor),
    // Results that need verification (appeals.md §5.2): the centre calls the applicant back
    // before anything counts as done.
    rule(S::InWork, A::Report, Some(R::Done), S::OnCheck, Who::Executor),
    rule(S::InWork, A::Report, Some(R::Explained), S::OnCheck, Who::Executor),
    rule(S::InWork, A::Report, Some(R::ImpossibleNow), S::OnCheck, Who::Executor),
    rule(S::Rework, A::Report, Some(R::Done), S::OnCheck, Who::Executor),
    rule(S::Rework, A::Report, Some(R::Explained), S::OnCheck, Who::Executor),
    rule(S::Rework, A::Report, Some(R::ImpossibleNow), S::OnCheck, Who::Executor),
    // "Not mine", "back to the parent", "duplicate" may be said before or after accepting.
    // Not-in-competence goes back to the dispatcher (Art. 7 of Law 393/96: if no executor of the
    // city is competent, the appeal is forwarded within 5 days).
    rule(S::Registered, A::Report, Some(R::NotInCompetence), S::Registered, Who::Executor),
    rule(S::InWork, A::Report, Some(R::NotInCompetence), S::Registered, Who::Executor),
    rule(S::Registered, A::Report, Some(R::Returned), S::Registered, Who::Executor),
    rule(S::InWork, A::Report, Some(R::Returned), S::Registered, Who::Executor),
    rule(S::Registered, A::Report, Some(R::Duplicate), S::Cancelled, Who::Executor),
    rule(S::InWork, A::Report, Some(R::Duplicate), S::Cancelled, Who::Executor),
    // Verification by the controller, or by the citizen through the bot (System).
    rule(S::OnCheck, A::Confirm, None, S::Closed, Who::Controller),
    rule(S::OnCheck, A::Confirm, None, S::Closed, Who::System),
    rule(S::OnCheck, A::Reject, None, S::Rework, Who::Controller),
    rule(S::OnCheck, A::Reject, None, S::Rework, Who::System),
    // Closed without confirmation; reported separately, never counted as confirmed (§7).
    rule(S::OnCheck, A::Unreachable, None, S::Closed, Who::Controller),
    rule(S::OnCheck, A::Unreachable, None, S::Closed, Who::System),
    // Re-routing by the dispatcher; once work has started only a supervisor may take it away.
    rule(S::Registered, A::Reroute, None, S::Registered, Who::Operator),
    rule(S::Registered, A::Reroute, None, S::Registered, Who::Supervisor),
    rule(S::InWork, A::Reroute, None, S::Registered, Who::Supervisor),
    rule(S::Rework, A::Reroute, None, S::Registered, Who::Supervisor),
    // Cancellation from any open state (created in error, withdrawn by the applicant, or a
    // duplicate found by the operator).
    rule(S::Registered, A::Cancel, None, S::Cancelled, Who::Operator),
    rule(S::Registered, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Operator),
    rule(S::Registered, A::Cancel, None, S::Cancelled, Who::Supervisor),
    rule(S::Registered, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Supervisor),
    rule(S::InWork, A::Cancel, None, S::Cancelled, Who::Operator),
    rule(S::InWork, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Operator),
    rule(S::InWork, A::Cancel, None, S::Cancelled, Who::Supervisor),
    rule(S::InWork, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Supervisor),
    rule(S::OnCheck, A::Cancel, None, S::Cancelled, Who::Operator),
    rule(S::OnCheck, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Operator),
    rule(S::OnCheck, A::Cancel, None, S::Cancelled, Who::Supervisor),
    rule(S::OnCheck, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Supervisor),
    rule(S::Rework, A::Cancel, None, S::Cancelled, Who::Operator),
    rule(S::Rework, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Operator),
    rule(S::Rework, A::Cancel, None, S::Cancelled, Who::Supervisor),
    rule(S::Rework, A::Cancel, Some(R::Duplicate), S::Cancelled, Who::Supervisor),
];

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Nobody may do this action in this state.
    #[error("cannot {action} an assignment that is {from}")]
    IllegalTransition {
        /// Current state.
        from: AssignmentState,
        /// Attempted action.
        action: Action,
    },
    /// The action needs a result and none was given.
    #[error("{action} requires a result (one of: {})", allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))]
    ResultRequired {
        /// Attempted action.
        action: Action,
        /// Results that would be accepted here.
        allowed: Vec<Resolution>,
    },
    /// A result was given that this action cannot carry in this state.
    #[error("{action} from {from} cannot carry the result {result}")]
    ResultNotAllowed {
        /// Current state.
        from: AssignmentState,
        /// Attempted action.
        action: Action,
        /// The rejected result.
        result: Resolution,
    },
    /// The move exists but not for this actor.
    #[error("a(n) {actor} may not {action} an assignment that is {from}")]
    ActorNotAllowed {
        /// Who tried.
        actor: ActorKind,
        /// Attempted action.
        action: Action,
        /// Current state.
        from: AssignmentState,
    },
}

impl TransitionError {
    /// Stable machine code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::IllegalTransition { .. } => "illegal_transition",
            TransitionError::ResultRequired { .. } => "result_required",
            TransitionError::ResultNotAllowed { .. } => "result_not_allowed",
            TransitionError::ActorNotAllowed { .. } => "actor_not_allowed",
        }
    }
}

/// Applies `action` (with `result`, by `actor`) to an assignment in state `from` and returns the
/// new state, or says precisely why not. The only enforcement point of [`TRANSITIONS`].
pub fn transition(
    from: AssignmentState,
    action: Action,
    result: Option<Resolution>,
    actor: ActorKind,
) -> Result<AssignmentState, TransitionError> {
    let candidates: Vec<&TransitionRule> =
        TRANSITIONS.iter().filter(|r| r.from == from && r.action == action).collect();
    if candidates.is_empty() {
        return Err(TransitionError::IllegalTransition { from, action });
    }
    let with_result: Vec<&&TransitionRule> =
        candidates.iter().filter(|r| r.result == result).collect();
    if with_result.is_empty() {
        return Err(match result {
            None => {
                let mut allowed: Vec<Resolution> =
                    candidates.iter().filter_map(|r| r.result).collect();
                allowed.dedup();
                TransitionError::ResultRequired { action, allowed }
            }
            Some(result) => TransitionError::ResultNotAllowed { from, action, result },
        });
    }
    with_result
        .iter()
        .find(|r| actor.acts_as(r.actor))
        .map(|r| r.to)
        .ok_or(TransitionError::ActorNotAllowed { actor, action, from })
}

/// The rules `actor` could apply in state `from` right now (for showing buttons in a UI).
pub fn available_actions(from: AssignmentState, actor: ActorKind) -> Vec<&'static TransitionRule> {
    TRANSITIONS.iter().filter(|r| r.from == from && actor.acts_as(r.actor)).collect()
}

/// How long after closure a citizen's "not fixed" still reopens the question (appeals.md §5.2;
/// the same 14 days the rating's quality measure counts reopens over, §7).
pub const REOPEN_WINDOW_DAYS: i64 = 14;

/// Why a closed assignment cannot be reopened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReopenError {
    /// Only closed assignments reopen (a cancelled one was never worked on).
    #[error("only a closed assignment can be reopened, this one is {0}")]
    NotClosed(AssignmentState),
    /// Reopening happens once; after that the citizen files a new question (a repeat).
    #[error(
        "this assignment was already reopened once; register a new question linked as a repeat"
    )]
    AlreadyReopened,
    /// Too late: register a new question linked with `repeat_of` instead.
    #[error(
        "closed more than {REOPEN_WINDOW_DAYS} days ago; register a new question linked as a repeat"
    )]
    WindowPassed,
}

impl ReopenError {
    /// Stable machine code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ReopenError::NotClosed(_) => "reopen_not_closed",
            ReopenError::AlreadyReopened => "reopen_already_used",
            ReopenError::WindowPassed => "reopen_window_passed",
        }
    }
}

/// The citizen says "not fixed" after closure. Within [`REOPEN_WINDOW_DAYS`] of `closed_at`, and
/// only once per assignment, the assignment goes back to [`AssignmentState::Rework`]; later, the
/// complaint becomes a new question flagged `repeat_of` (appeals.md §5.2 "Reopen", following the
/// FixMyStreet and SeeClickFix experience with endless reopening). Kept apart from
/// [`TRANSITIONS`] because it is the one move out of a final state, and it is bounded in time.
pub fn reopen(
    state: AssignmentState,
    closed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    reopened_before: bool,
) -> Result<AssignmentState, ReopenError> {
    if state != AssignmentState::Closed {
        return Err(ReopenError::NotClosed(state));
    }
    if reopened_before {
        return Err(ReopenError::AlreadyReopened);
    }
    if now.signed_duration_since(closed_at) > TimeDelta::days(REOPEN_WINDOW_DAYS) {
        return Err(ReopenError::WindowPassed);
    }
    Ok(AssignmentState::Rework)
}

/// After this many reworks the question is escalated to the executor's manager (appeals.md §5.3
/// item 4).
pub const REWORK_ESCALATION_AFTER: u32 = 2;

/// True when an assignment with `rework_count` reworks should be escalated.
pub fn needs_escalation(rework_count: u32) -> bool {
    rework_count >= REWORK_ESCALATION_AFTER
}

string_enum! {
    /// What the citizen, the public map and Open311 see (appeals.md §5.2, "Public status
    /// mapping").
    pub enum PublicStatus ("public status") {
        /// Зареєстровано.
        Registered = "registered",
        /// В роботі (also during rework: the citizen sees work continuing).
        InWork = "in_work",
        /// Аварія / планові роботи: linked to an active outage event.
        ActionScheduled = "action_scheduled",
        /// Перевіряється виконання.
        OnCheck = "on_check",
        /// Повернуто на доопрацювання.
        Rework = "rework",
        /// Виконано.
        Fixed = "fixed",
        /// Надано роз'яснення.
        Explained = "explained",
        /// Заплановано.
        Planned = "planned",
        /// Не в компетенції.
        NotInCompetence = "not_in_competence",
        /// Дублікат.
        Duplicate = "duplicate",
        /// Скасовано.
        Cancelled = "cancelled",
        /// Закрито (without a result that says more).
        Closed = "closed",
    }
}

impl PublicStatus {
    /// The citizen-facing Ukrainian label.
    pub fn label_uk(&self) -> &'static str {
        match self {
            PublicStatus::Registered => "Зареєстровано",
            PublicStatus::InWork => "В роботі",
            PublicStatus::ActionScheduled => "Аварія / планові роботи",
            PublicStatus::OnCheck => "Перевіряється виконання",
            PublicStatus::Rework => "Повернуто на доопрацювання",
            PublicStatus::Fixed => "Виконано",
            PublicStatus::Explained => "Надано роз'яснення",
            PublicStatus::Planned => "Заплановано",
            PublicStatus::NotInCompetence => "Не в компетенції",
            PublicStatus::Duplicate => "Дублікат",
            PublicStatus::Cancelled => "Скасовано",
            PublicStatus::Closed => "Закрито",
        }
    }

    /// English label.
    pub fn label_en(&self) -> &'static str {
        match self {
            PublicStatus::Registered => "Registered",
            PublicStatus::InWork => "In progress",
            PublicStatus::ActionScheduled => "Outage or planned works",
            PublicStatus::OnCheck => "Checking the result",
            PublicStatus::Rework => "Returned for rework",
            PublicStatus::Fixed => "Fixed",
            PublicStatus::Explained => "Explanation given",
            PublicStatus::Planned => "Planned",
            PublicStatus::NotInCompetence => "Not in competence",
            PublicStatus::Duplicate => "Duplicate",
            PublicStatus::Cancelled => "Cancelled",
            PublicStatus::Closed => "Closed",
        }
    }

    /// Open311 / FixMyStreet extended status code.
    pub fn open311(&self) -> &'static str {
        match self {
            PublicStatus::Registered => "OPEN",
            PublicStatus::InWork | PublicStatus::Rework => "IN_PROGRESS",
            PublicStatus::ActionScheduled => "ACTION_SCHEDULED",
            PublicStatus::OnCheck => "INVESTIGATING",
            PublicStatus::Fixed => "FIXED",
            PublicStatus::Explained | PublicStatus::Closed | PublicStatus::Cancelled => "CLOSED",
            PublicStatus::Planned => "NO_FURTHER_ACTION",
            PublicStatus::NotInCompetence => "NOT_COUNCILS_RESPONSIBILITY",
            PublicStatus::Duplicate => "DUPLICATE",
        }
    }

    /// Open311 GeoReport v2 base status: only `open` or `closed`.
    pub fn open311_base(&self) -> &'static str {
        match self {
            PublicStatus::Registered
            | PublicStatus::InWork
            | PublicStatus::ActionScheduled
            | PublicStatus::OnCheck
            | PublicStatus::Rework => "open",
            _ => "closed",
        }
    }
}

/// Maps an assignment's state and last reported result to what the public sees.
///
/// `result` is the latest result the executor reported (it survives into `closed`). A question
/// re-routed outside the city is cancelled or closed with `not_in_competence`.
pub fn public_status(state: AssignmentState, result: Option<Resolution>) -> PublicStatus {
    match (state, result) {
        (S::Registered, _) => PublicStatus::Registered,
        (S::InWork, _) => PublicStatus::InWork,
        (S::OnCheck, _) => PublicStatus::OnCheck,
        (S::Rework, _) => PublicStatus::Rework,
        (S::Closed | S::Cancelled, Some(R::Duplicate)) => PublicStatus::Duplicate,
        (S::Closed | S::Cancelled, Some(R::NotInCompetence)) => PublicStatus::NotInCompetence,
        (S::Closed, Some(R::Done)) => PublicStatus::Fixed,
        (S::Closed, Some(R::Explained)) => PublicStatus::Explained,
        (S::Closed, Some(R::ImpossibleNow)) => PublicStatus::Planned,
        (S::Closed, _) => PublicStatus::Closed,
        (S::Cancelled, _) => PublicStatus::Cancelled,
    }
}

/// Like [`public_status`], but an open question linked to an active outage event shows the
/// event ("Аварія / планові роботи", Open311 `ACTION_SCHEDULED`).
pub fn public_status_with_event(
    state: AssignmentState,
    result: Option<Resolution>,
    linked_to_active_event: bool,
) -> PublicStatus {
    if linked_to_active_event && state.is_open() {
        PublicStatus::ActionScheduled
    } else {
        public_status(state, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The happy path and every other sequence from appeals.md §5.2.
    #[test]
    fn allowed_transitions_table() {
        let cases: &[(S, A, Option<R>, Who, S)] = &[
            (S::Registered, A::Accept, None, Who::Executor, S::InWork),
            (S::InWork, A::Report, Some(R::Done), Who::Executor, S::OnCheck),
            (S::InWork, A::Report, Some(R::Explained), Who::Executor, S::OnCheck),
            (S::InWork, A::Report, Some(R::ImpossibleNow), Who::Executor, S::OnCheck),
            (S::Rework, A::Report, Some(R::Done), Who::Executor, S::OnCheck),
            (S::InWork, A::Report, Some(R::NotInCompetence), Who::Executor, S::Registered),
            (S::Registered, A::Report, Some(R::NotInCompetence), Who::Executor, S::Registered),
            (S::InWork, A::Report, Some(R::Returned), Who::Executor, S::Registered),
            (S::InWork, A::Report, Some(R::Duplicate), Who::Executor, S::Cancelled),
            (S::OnCheck, A::Confirm, None, Who::Controller, S::Closed),
            (S::OnCheck, A::Confirm, None, Who::Admin, S::Closed),
            (S::OnCheck, A::Confirm, None, Who::System, S::Closed),
            (S::OnCheck, A::Reject, None, Who::Controller, S::Rework),
            (S::OnCheck, A::Unreachable, None, Who::Controller, S::Closed),
            (S::Registered, A::Cancel, None, Who::Operator, S::Cancelled),
            (S::Rework, A::Cancel, None, Who::Supervisor, S::Cancelled),
            (S::OnCheck, A::Cancel, Some(R::Duplicate), Who::Admin, S::Cancelled),
            (S::InWork, A::Cancel, None, Who::Admin, S::Cancelled),
            (S::Registered, A::Reroute, None, Who::Operator, S::Registered),
            (S::InWork, A::Reroute, None, Who::Supervisor, S::Registered),
            (S::Rework, A::Reroute, None, Who::Admin, S::Registered),
        ];
        for (from, action, result, actor, want) in cases {
            assert_eq!(
                transition(*from, *action, *result, *actor),
                Ok(*want),
                "{from} {action} {result:?} by {actor}"
            );
        }
    }

    #[test]
    fn refusals_table() {
        use TransitionError as E;
        let cases: &[(S, A, Option<R>, Who, &str)] = &[
            (S::Closed, A::Accept, None, Who::Executor, "illegal_transition"),
            (S::Cancelled, A::Cancel, None, Who::Admin, "illegal_transition"),
            (S::Closed, A::Reject, None, Who::Controller, "illegal_transition"),
            (S::Registered, A::Confirm, None, Who::Controller, "illegal_transition"),
            (S::InWork, A::Accept, None, Who::Executor, "illegal_transition"),
            (S::OnCheck, A::Report, Some(R::Done), Who::Executor, "illegal_transition"),
            (S::InWork, A::Report, None, Who::Executor, "result_required"),
            (S::Registered, A::Report, Some(R::Done), Who::Executor, "result_not_allowed"),
            (S::Rework, A::Report, Some(R::NotInCompetence), Who::Executor, "result_not_allowed"),
            (S::Registered, A::Accept, Some(R::Done), Who::Executor, "result_not_allowed"),
            (S::OnCheck, A::Confirm, Some(R::Done), Who::Controller, "result_not_allowed"),
            (S::Registered, A::Cancel, Some(R::Explained), Who::Operator, "result_not_allowed"),
            (S::Registered, A::Accept, None, Who::Operator, "actor_not_allowed"),
            (S::Registered, A::Accept, None, Who::Admin, "actor_not_allowed"),
            (S::InWork, A::Report, Some(R::Done), Who::Controller, "actor_not_allowed"),
            (S::OnCheck, A::Confirm, None, Who::Executor, "actor_not_allowed"),
            (S::OnCheck, A::Reject, None, Who::Operator, "actor_not_allowed"),
            (S::InWork, A::Cancel, None, Who::Executor, "actor_not_allowed"),
            (S::InWork, A::Reroute, None, Who::Operator, "actor_not_allowed"),
        ];
        for (from, action, result, actor, code) in cases {
            let err = transition(*from, *action, *result, *actor).expect_err("should be refused");
            assert_eq!(err.code(), *code, "{from} {action} {result:?} by {actor}: {err}");
        }
        let err = transition(S::InWork, A::Report, None, Who::Executor).unwrap_err();
        match &err {
            E::ResultRequired { allowed, .. } => {
                assert!(allowed.contains(&R::Done) && allowed.contains(&R::Duplicate));
            }
            other => panic!("unexpected {other}"),
        }
        assert!(
            err.to_string().starts_with("report requires a result (one of: done, explained"),
            "{err}"
        );
        assert_eq!(
            transition(S::Closed, A::Accept, None, Who::Executor).unwrap_err().to_string(),
            "cannot accept an assignment that is closed"
        );
    }

    #[test]
    fn table_invariants() {
        for r in TRANSITIONS {
            assert!(!r.from.is_final(), "no rule leaves a final state: {r:?}");
            if r.action.requires_result() {
                assert!(r.result.is_some(), "{r:?} must name its result");
            } else if r.action != A::Cancel {
                assert!(r.result.is_none(), "{r:?} carries no result");
            }
            // Exactly one row per (from, action, result, actor): the table is unambiguous.
            let same = TRANSITIONS.iter().filter(|o| {
                o.from == r.from
                    && o.action == r.action
                    && o.result == r.result
                    && o.actor == r.actor
            });
            assert_eq!(same.count(), 1, "duplicate rule {r:?}");
            assert_ne!(r.actor, Who::Admin, "admin inherits rows; it needs none of its own");
        }
        // Every non-final state can be left, and every state is reachable from registered.
        for s in S::ALL.iter().filter(|s| s.is_open()) {
            assert!(TRANSITIONS.iter().any(|r| r.from == *s), "{s} is a dead end");
        }
        let mut reach = vec![S::Registered];
        let mut i = 0;
        while i < reach.len() {
            let from = reach[i];
            for r in TRANSITIONS.iter().filter(|r| r.from == from) {
                if !reach.contains(&r.to) {
                    reach.push(r.to);
                }
            }
            i += 1;
        }
        assert_eq!(reach.len(), S::ALL.len());
    }

    /// Every combination of state, action, result and actor: `transition` agrees with a direct
    /// reading of the table, and its error is the most specific one.
    #[test]
    fn exhaustive_against_table() {
        let results: Vec<Option<R>> =
            std::iter::once(None).chain(R::ALL.iter().copied().map(Some)).collect();
        let mut allowed = 0;
        for from in S::ALL {
            for action in A::ALL {
                for result in &results {
                    for actor in Who::ALL {
                        let direct = TRANSITIONS
                            .iter()
                            .find(|r| {
                                r.from == *from
                                    && r.action == *action
                                    && r.result == *result
                                    && actor.acts_as(r.actor)
                            })
                            .map(|r| r.to);
                        let got = transition(*from, *action, *result, *actor);
                        match (direct, &got) {
                            (Some(to), Ok(g)) => {
                                assert_eq!(to, *g);
                                allowed += 1;
                            }
                            (None, Err(_)) => {}
                            _ => panic!(
                                "{from} {action} {result:?} {actor}: table {direct:?}, transition {got:?}"
                            ),
                        }
                    }
                }
            }
        }
        assert!(allowed > TRANSITIONS.len(), "admin adds rows");
    }

    #[test]
    fn full_rework_cycle() {
        let mut s = S::Registered;
        let mut reworks = 0;
        let steps: &[(A, Option<R>, Who)] = &[
            (A::Accept, None, Who::Executor),
            (A::Report, Some(R::Done), Who::Executor),
            (A::Reject, None, Who::Controller),
            (A::Report, Some(R::Done), Who::Executor),
            (A::Confirm, None, Who::Controller),
        ];
        for (a, r, who) in steps {
            s = transition(s, *a, *r, *who).unwrap();
            if a.increments_rework() {
                reworks += 1;
            }
        }
        assert_eq!(s, S::Closed);
        assert_eq!(reworks, 1);
        assert!(!needs_escalation(reworks));
        assert!(needs_escalation(2));
    }

    #[test]
    fn reopen_table() {
        let closed =
            DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let cases: &[(S, i64, bool, Result<S, ReopenError>)] = &[
            (S::Closed, 0, false, Ok(S::Rework)),
            (S::Closed, 14 * 24, false, Ok(S::Rework)),
            (S::Closed, 14 * 24 + 1, false, Err(ReopenError::WindowPassed)),
            (S::Closed, 1, true, Err(ReopenError::AlreadyReopened)),
            (S::Cancelled, 1, false, Err(ReopenError::NotClosed(S::Cancelled))),
            (S::InWork, 1, false, Err(ReopenError::NotClosed(S::InWork))),
        ];
        for (state, hours, before, want) in cases {
            let got = reopen(*state, closed, closed + TimeDelta::hours(*hours), *before);
            assert_eq!(&got, want, "{state} +{hours}h reopened_before={before}");
        }
        assert_eq!(ReopenError::WindowPassed.code(), "reopen_window_passed");
    }

    #[test]
    fn available_actions_for_ui() {
        let exec: Vec<_> = available_actions(S::InWork, Who::Executor)
            .iter()
            .map(|r| (r.action, r.result))
            .collect();
        assert!(exec.contains(&(A::Report, Some(R::Done))));
        assert!(!exec.iter().any(|(a, _)| *a == A::Cancel));
        assert!(available_actions(S::Closed, Who::Admin).is_empty());
        assert!(available_actions(S::OnCheck, Who::Admin).iter().any(|r| r.action == A::Confirm));
    }

    #[test]
    fn public_status_table() {
        let cases: &[(S, Option<R>, PublicStatus, &str, &str)] = &[
            (S::Registered, None, PublicStatus::Registered, "Зареєстровано", "OPEN"),
            (
                S::Registered,
                Some(R::NotInCompetence),
                PublicStatus::Registered,
                "Зареєстровано",
                "OPEN",
            ),
            (S::InWork, None, PublicStatus::InWork, "В роботі", "IN_PROGRESS"),
            (
                S::OnCheck,
                Some(R::Done),
                PublicStatus::OnCheck,
                "Перевіряється виконання",
                "INVESTIGATING",
            ),
            (
                S::Rework,
                Some(R::Done),
                PublicStatus::Rework,
                "Повернуто на доопрацювання",
                "IN_PROGRESS",
            ),
            (S::Closed, Some(R::Done), PublicStatus::Fixed, "Виконано", "FIXED"),
            (
                S::Closed,
                Some(R::Explained),
                PublicStatus::Explained,
                "Надано роз'яснення",
                "CLOSED",
            ),
            (
                S::Closed,
                Some(R::ImpossibleNow),
                PublicStatus::Planned,
                "Заплановано",
                "NO_FURTHER_ACTION",
            ),
            (
                S::Closed,
                Some(R::NotInCompetence),
                PublicStatus::NotInCompetence,
                "Не в компетенції",
                "NOT_COUNCILS_RESPONSIBILITY",
            ),
            (
                S::Cancelled,
                Some(R::NotInCompetence),
                PublicStatus::NotInCompetence,
                "Не в компетенції",
                "NOT_COUNCILS_RESPONSIBILITY",
            ),
            (S::Cancelled, Some(R::Duplicate), PublicStatus::Duplicate, "Дублікат", "DUPLICATE"),
            (S::Cancelled, None, PublicStatus::Cancelled, "Скасовано", "CLOSED"),
            (S::Closed, None, PublicStatus::Closed, "Закрито", "CLOSED"),
        ];
        for (state, result, want, uk, o311) in cases {
            let got = public_status(*state, *result);
            assert_eq!(got, *want, "{state} {result:?}");
            assert_eq!(got.label_uk(), *uk);
            assert_eq!(got.open311(), *o311);
        }
        assert_eq!(public_status_with_event(S::InWork, None, true), PublicStatus::ActionScheduled);
        assert_eq!(public_status_with_event(S::Closed, Some(R::Done), true), PublicStatus::Fixed);
        assert_eq!(PublicStatus::ActionScheduled.open311_base(), "open");
        assert_eq!(PublicStatus::Fixed.open311_base(), "closed");
    }

    #[test]
    fn merits() {
        assert!(
            R::Done.is_on_merits()
                && R::Explained.is_on_merits()
                && R::ImpossibleNow.is_on_merits()
        );
        assert!(
            !R::NotInCompetence.is_on_merits()
                && !R::Returned.is_on_merits()
                && !R::Duplicate.is_on_merits()
        );
    }
}
