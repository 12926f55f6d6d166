//! Registering an appeal: validate everything first, then route, date and write it in one
//! store transaction. Every rule lives in `kontakt-appeals`; this file only gathers what the
//! rules need from the store and applies their answers.

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use chrono_tz::Europe::Kyiv;
use kontakt_appeals::{self as domain, LegalKind, LegalTrack, ValidationErrors};
use kontakt_store::{self as store, Id, Store};

use crate::dto::{NewAppealRequest, NewApplicantRequest, RegistrationResponse};
use crate::error::{ApiError, ApiResult};
use crate::routes::appeal_dto;

/// Times are kept to the microsecond: what PostgreSQL stores, so both backends return exactly
/// what was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn applicant_domain(a: NewApplicantRequest) -> domain::NewApplicant {
    domain::NewApplicant {
        last_name: a.last_name,
        first_name: a.first_name,
        patronymic: a.patronymic,
        phones: a.phones,
        email: a.email,
        address: a.address.map(domain::Address::from),
        kind: a.kind,
        privileges: a.privileges,
        confidential: a.confidential,
        assurance: a.assurance,
    }
}

pub(crate) fn applicant_record(v: domain::ValidApplicant) -> store::NewApplicant {
    store::NewApplicant {
        last_name: v.last_name,
        first_name: v.first_name,
        patronymic: v.patronymic,
        email: v.email,
        kind: v.kind,
        privileges: v.privileges,
        confidential: v.confidential,
        assurance: v.assurance,
        address: v.address,
        phones: v.phones.into_iter().map(|p| p.as_str().to_string()).collect(),
    }
}

/// Registers an appeal on behalf of `actor` (the operator, or the system for imports and the
/// demo seed). Nothing is written unless every check passes.
pub async fn register(
    store: &dyn Store,
    actor: store::Actor,
    req: NewAppealRequest,
) -> ApiResult<RegistrationResponse> {
    let registered_at = now();
    let received_at = req.received_at.map(|t| t.trunc_subsecs(6)).unwrap_or(registered_at);
    let mut errors = ValidationErrors::new();

    if req.applicant_id.is_some() && req.applicant.is_some() {
        errors.push("applicant", "not_allowed", "give applicant_id or applicant, not both");
    }
    let new_applicant = match req.applicant {
        Some(a) => errors.nest_result("applicant", applicant_domain(a).validate()),
        None => None,
    };
    if let Some(id) = req.applicant_id {
        match store.applicant(id).await {
            Ok(_) => {}
            Err(store::StoreError::NotFound { .. }) => {
                errors.push("applicant_id", "not_found", format!("no applicant {id}"))
            }
            Err(e) => return Err(e.into()),
        }
    }

    let questions: Vec<domain::NewQuestion> = req
        .questions
        .into_iter()
        .map(|q| domain::NewQuestion {
            category_code: q.category_code,
            description: q.description,
            attributes: q.attributes,
            address: q.address.map(domain::Address::from),
            object_ref: q.object_ref,
            emergency: q.emergency.map(|e| domain::Emergency {
                discovered_at: e.discovered_at.trunc_subsecs(6),
                nature: e.nature,
            }),
        })
        .collect();
    let appeal = domain::NewAppeal {
        channel: req.channel,
        legal_kind: req.legal_kind,
        received_at,
        answer_channel: req.answer_channel,
        applicant_present: req.applicant_id.is_some() || new_applicant.is_some(),
        collective: req.collective,
        call_id: req.call_id,
        questions,
    };
    if let Err(e) = appeal.validate(registered_at) {
        errors.nest("", e);
    }

    let mut categories = Vec::with_capacity(appeal.questions.len());
    for (i, q) in appeal.questions.iter().enumerate() {
        match store.category(&q.category_code).await? {
            Some(c) => {
                if let Err(e) = domain::validate_question(q, &c, registered_at) {
                    errors.nest(&format!("questions[{i}]"), e);
                }
                categories.push(c);
            }
            None => errors.push(
                format!("questions[{i}].category_code"),
                "not_found",
                format!("no category {:?}", q.category_code),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }

    // Art. 20: one month in general, 15 days when no question needs extra study.
    let legal_due = if appeal.legal_kind == LegalKind::IncidentReport {
        None
    } else {
        let track = if categories.iter().any(|c| c.legal_track == LegalTrack::Art20General) {
            LegalTrack::Art20General
        } else {
            LegalTrack::Art20Short
        };
        domain::legal_due(received_at, track)
    };

    let applicant_id: Option<Id> = match new_applicant {
        Some(v) => Some(store.create_applicant(applicant_record(v), registered_at).await?.id),
        None => req.applicant_id,
    };

    let mut records = Vec::with_capacity(appeal.questions.len());
    let mut duplicates = Vec::new();
    let mut appeal_repeat_of = None;
    for (q, category) in appeal.questions.into_iter().zip(categories) {
        let building_key = q.address.as_ref().map(domain::Address::building_key);
        let prior: Vec<domain::PriorQuestion> = store
            .prior_questions(applicant_id, building_key.as_deref(), &q.category_code)
            .await?
            .into_iter()
            .map(prior_domain)
            .collect();
        let repeat = applicant_id.and_then(|a| {
            domain::find_repeat(Some(a), &q.category_code, building_key.as_deref(), &prior)
                .map(|p| (p.appeal_id, p.question_id))
        });
        duplicates.extend(
            domain::duplicate_candidates(&q.category_code, building_key.as_deref(), &prior)
                .into_iter()
                .map(|p| p.question_id),
        );
        let sla_due = domain::sla_due(registered_at, category.sla_hours, legal_due);
        let attention =
            sla_due.map(|due| domain::attention_at(registered_at, due, category.attention_pct));
        // Art. 8: a repeat goes to the supervisor first, not straight to the executor.
        let executor = if repeat.is_some() {
            None
        } else {
            route(store, &q.category_code, q.address.as_ref(), registered_at).await?
        };
        if let Some((appeal_id, _)) = repeat {
            appeal_repeat_of.get_or_insert(appeal_id);
        }
        records.push(store::NewQuestion {
            category_code: q.category_code,
            description: q.description,
            attributes: q.attributes,
            address: q.address,
            building_key,
            object_ref: q.object_ref,
            emergency: q
                .emergency
                .map(|e| store::Emergency { discovered_at: e.discovered_at, nature: e.nature }),
            severity: category.severity,
            sla_due_at: sla_due,
            attention_at: attention,
            repeat_of: repeat.map(|(_, question)| question),
            assignment: executor
                .map(|executor_id| store::NewAssignment { executor_id, due_at: sla_due }),
        });
    }

    let saved = store
        .register_appeal(store::NewAppeal {
            reg_year: registered_at.with_timezone(&Kyiv).year(),
            applicant_id,
            channel: appeal.channel,
            legal_kind: appeal.legal_kind,
            answer_channel: appeal.answer_channel,
            collective: appeal.collective,
            call_id: appeal.call_id,
            operator_id: actor.user_id,
            received_at,
            registered_at,
            legal_due_at: legal_due,
            repeat_of: appeal_repeat_of,
            questions: records,
            actor,
        })
        .await?;
    duplicates.sort_unstable();
    duplicates.dedup();
    Ok(RegistrationResponse {
        appeal: appeal_dto(saved, registered_at),
        duplicate_candidates: duplicates,
    })
}

pub(crate) fn prior_domain(p: store::PriorQuestion) -> domain::PriorQuestion {
    let resolved_on_merits = matches!(p.state, Some(domain::AssignmentState::Closed))
        && matches!(
            p.result,
            Some(
                domain::Resolution::Done
                    | domain::Resolution::Explained
                    | domain::Resolution::ImpossibleNow
            )
        );
    domain::PriorQuestion {
        appeal_id: p.appeal_id,
        question_id: p.question_id,
        applicant_id: p.applicant_id,
        category_code: p.category_code,
        building_key: p.building_key,
        state: p.state.unwrap_or(domain::AssignmentState::Registered),
        resolved_on_merits,
        closed_at: p.closed_at,
    }
}

/// The executor the responsibility map names for this question. The store narrows the map
/// to the lines in force for this category; the domain's `route` picks the most specific.
pub(crate) async fn route(
    store: &dyn Store,
    category_code: &str,
    address: Option<&domain::Address>,
    at: DateTime<Utc>,
) -> ApiResult<Option<Id>> {
    let lines = store.responsibilities_for(category_code, at).await?;
    let building = address.map(domain::Address::building_key);
    let district = address.and_then(|a| a.district.as_deref());
    Ok(domain::route(&lines, category_code, district, building.as_deref(), at)
        .map(|l| l.executor_id))
}

impl From<domain::TransitionError> for ApiError {
    fn from(e: domain::TransitionError) -> Self {
        ApiError::new(axum::http::StatusCode::CONFLICT, "illegal_transition", e.to_string())
    }
}
