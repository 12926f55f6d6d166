//! `GET /api/v1/appeals/suggestions`: while an operator types an appeal, the earlier questions
//! it may repeat or duplicate, so the call can be linked to one of them instead. The store
//! fetches the few candidates (`prior_questions`); the rules are `kontakt_appeals::matching`,
//! the same ones registration applies.

use axum::Json;
use axum::extract::State;
use kontakt_appeals::{self as domain, Address};
use kontakt_store::{PriorQuestion, StoreError};

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{SuggestionDto, SuggestionsDto, SuggestionsQuery};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::registration::prior_domain;

/// How many duplicates are shown: the operator reads them during a call.
const MAX_DUPLICATES: usize = 5;

fn text(field: &str, v: Option<String>, max: usize) -> ApiResult<Option<String>> {
    let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    match v {
        Some(s) if s.chars().count() > max => {
            Err(ApiError::field(field, "too_long", format!("at most {max} characters")))
        }
        v => Ok(v),
    }
}

fn one_line(a: &Address) -> String {
    let mut parts = vec![format!("{} {}", a.street, a.building)];
    for (label, v) in [("під'їзд", &a.entrance), ("кв.", &a.flat)] {
        if let Some(v) = v {
            parts.push(format!("{label} {v}"));
        }
    }
    if let Some(f) = a.floor {
        parts.push(format!("поверх {f}"));
    }
    parts.join(", ")
}

#[utoipa::path(get, path = "/api/v1/appeals/suggestions", tag = "appeals", params(SuggestionsQuery),
    responses((status = 200, description = "the repeat and the duplicates the new question may be", body = SuggestionsDto),
        (status = 400, description = "a malformed query (`invalid_query`)", body = crate::error::ErrorBody),
        (status = 422, description = "a value too long", body = crate::error::ErrorBody)))]
pub(crate) async fn appeal_suggestions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SuggestionsQuery>,
) -> ApiResult<Json<SuggestionsDto>> {
    caller.require(Permission::RegisterAppeals)?;
    caller.require(Permission::ReadAppeals)?;
    let category = text("category_code", q.category_code, 100)?.unwrap_or_default();
    let street = text("street", q.street, 200)?;
    let building = text("building", q.building, 50)?;
    let empty = SuggestionsDto { repeat: None, duplicates: Vec::new() };
    if category.is_empty() {
        return Ok(Json(empty));
    }
    let building_key = match (street, building) {
        (Some(street), Some(building)) => Some(
            Address {
                city: None,
                street,
                building,
                entrance: None,
                flat: None,
                floor: None,
                district: None,
                lat: None,
                lon: None,
            }
            .building_key(),
        ),
        _ => None,
    };
    if q.applicant_id.is_none() && building_key.is_none() {
        return Ok(Json(empty));
    }
    let prior: Vec<domain::PriorQuestion> = state
        .store
        .prior_questions(q.applicant_id, building_key.as_deref(), &category)
        .await?
        .into_iter()
        .map(|p: PriorQuestion| prior_domain(p))
        .collect();
    let repeat = domain::find_repeat(q.applicant_id, &category, building_key.as_deref(), &prior)
        .map(|p| (p.appeal_id, p.question_id));
    let duplicates: Vec<(i64, i64)> =
        domain::duplicate_candidates(&category, building_key.as_deref(), &prior)
            .into_iter()
            .take(MAX_DUPLICATES)
            .map(|p| (p.appeal_id, p.question_id))
            .collect();
    let mut out = empty;
    if let Some((appeal, question)) = repeat {
        out.repeat = suggestion(&state, appeal, question).await?;
    }
    for (appeal, question) in duplicates {
        if let Some(s) = suggestion(&state, appeal, question).await? {
            out.duplicates.push(s);
        }
    }
    Ok(Json(out))
}

/// The question as the desk shows it; `None` if it vanished meanwhile.
async fn suggestion(
    state: &AppState,
    appeal: i64,
    question: i64,
) -> ApiResult<Option<SuggestionDto>> {
    let a = match state.store.appeal(appeal).await {
        Ok(a) => a,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let reg_no = a.reg_no.to_string();
    let Some(q) = a.questions.into_iter().find(|q| q.id == question) else {
        return Ok(None);
    };
    Ok(Some(SuggestionDto {
        appeal_id: a.id,
        question_id: q.id,
        number: format!("{reg_no}/{}", q.position),
        reg_no,
        category_code: q.category_code,
        description: q.description,
        address: q.address.as_ref().map(one_line),
        state: q.assignments.first().map(|s| s.state.as_str().to_string()),
        registered_at: a.registered_at,
    }))
}
