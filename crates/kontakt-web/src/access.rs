//! What each role may do, in one table. Handlers ask `caller.require(Permission::…)`; an
//! executor's further restriction to its own organisation is applied where the data is read.

use kontakt_appeals::ActorKind;
use kontakt_store::Role;

use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ManageUsers,
    ManageReference,
    ReadReference,
    /// Search and read applicants' personal data (every read is audited).
    ReadApplicants,
    WriteApplicants,
    RegisterAppeals,
    /// Read appeals; executors see only those with an assignment of their organisation.
    ReadAppeals,
    /// Add an assignment to a question (manual routing).
    Route,
    /// Move assignments through their lifecycle; the domain decides which actions each
    /// role's actor kind may take.
    Transition,
    ExtendDeadline,
    ReadAudit,
    /// The operator's desk: their own state, calls, links, hold and transfer, and their own
    /// events on the feed. The engine must also know the user as an operator (`[callcenter]
    /// operators` may name operators and supervisors who take calls).
    Desk,
    /// Read outages (accidents, planned works, restrictions): everyone who answers citizens
    /// or fixes what they report.
    ReadOutages,
    /// Register and end outages: supervisors (the dispatcher's desk), administrators, and
    /// executors for their own organisation. Every use is audited.
    ManageOutages,
    /// The wall board: every agent and live call, forcing agents' states, moving calls,
    /// changing priorities, listening in; the supervisors' feed. Every use is audited.
    Supervise,
}

pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match permission {
        ManageUsers | ManageReference | ReadAudit => role == Admin,
        ReadReference => true,
        ReadApplicants => matches!(role, Admin | Supervisor | Operator | Controller),
        WriteApplicants | RegisterAppeals => matches!(role, Admin | Supervisor | Operator),
        ReadAppeals | Transition => {
            matches!(role, Admin | Supervisor | Operator | Controller | Executor)
        }
        Route => matches!(role, Admin | Supervisor | Operator | Controller),
        ExtendDeadline => matches!(role, Admin | Supervisor | Controller),
        Desk => matches!(role, Supervisor | Operator),
        Supervise => matches!(role, Admin | Supervisor),
        ReadOutages => matches!(role, Admin | Supervisor | Operator | Controller | Executor),
        ManageOutages => matches!(role, Admin | Supervisor | Executor),
    }
}

/// The actor kind a role acts as in the appeals domain (timeline, transition rules).
pub fn actor_kind(role: Role) -> ActorKind {
    match role {
        Role::Admin => ActorKind::Admin,
        Role::Supervisor => ActorKind::Supervisor,
        Role::Operator => ActorKind::Operator,
        Role::Controller => ActorKind::Controller,
        Role::Executor => ActorKind::Executor,
        // Citizens act through the portal, which is not built yet; the system records it.
        Role::Citizen => ActorKind::System,
    }
}

impl Caller {
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if allows(self.user.role, permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not do this",
                self.user.role.as_str()
            )))
        }
    }

    pub fn actor(&self) -> kontakt_store::Actor {
        kontakt_store::Actor { user_id: Some(self.user.id), kind: actor_kind(self.user.role) }
    }

    /// For executors: their organisation, without which they see nothing.
    pub fn executor_scope(&self) -> Result<Option<i64>, ApiError> {
        if self.user.role != Role::Executor {
            return Ok(None);
        }
        self.user
            .executor_id
            .map(Some)
            .ok_or_else(|| ApiError::forbidden("this executor account has no organisation"))
    }
}
