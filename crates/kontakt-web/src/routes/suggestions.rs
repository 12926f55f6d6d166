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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::pages::tests_http::{env, get, login};

    async fn suggest(
        env: &crate::pages::tests_http::Env,
        cookie: &str,
        query: &str,
    ) -> (u16, Value) {
        let r = get(env, &format!("/api/v1/appeals/suggestions?{query}"), Some(cookie), None).await;
        (r.status.as_u16(), serde_json::from_str(&r.body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn open_questions_at_the_building_are_suggested_in_any_spelling() {
        let env = env().await;
        let req = serde_json::from_value(json!({
            "channel": "phone", "legal_kind": "incident_report",
            "questions": [{"category_code": "water.leak", "description": "<b>тече</b>",
                "address": {"street": "просп. Соборний", "building": "12а", "flat": "5"}}]
        }))
        .unwrap();
        let actor =
            kontakt_store::Actor { user_id: None, kind: kontakt_appeals::ActorKind::System };
        let reg = crate::registration::register(env.store.as_ref(), actor, req).await.unwrap();
        let (cookie, _) = login(&env, "olena").await;
        // Another spelling of the same building.
        let street =
            "%D0%A1%D0%BE%D0%B1%D0%BE%D1%80%D0%BD%D0%B8%D0%B9%20%D0%BF%D1%80%D0%BE%D1%81%D0%BF."; // Соборний просп.
        let (status, body) = suggest(
            &env,
            &cookie,
            &format!("category_code=water.leak&street={street}&building=12-A"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let dups = body["duplicates"].as_array().unwrap();
        assert_eq!(dups.len(), 1, "{body}");
        assert_eq!(dups[0]["appeal_id"], reg.appeal.id);
        assert_eq!(dups[0]["reg_no"], reg.appeal.reg_no.as_str());
        assert_eq!(dups[0]["description"], "<b>тече</b>");
        assert_eq!(dups[0]["address"], "просп. Соборний 12а, кв. 5");
        assert!(body["repeat"].is_null());
        // Another category, another building, no category or no address: nothing.
        for q in [
            format!("category_code=heating.leak&street={street}&building=12a"),
            format!("category_code=water.leak&street={street}&building=14"),
            format!("street={street}&building=12a"),
            "category_code=water.leak".to_string(),
        ] {
            let (status, body) = suggest(&env, &cookie, &q).await;
            assert_eq!(status, 200, "{q}: {body}");
            assert_eq!(body["duplicates"], json!([]), "{q}: {body}");
        }
        let long = "x".repeat(201);
        let (status, body) =
            suggest(&env, &cookie, &format!("category_code=water.leak&street={long}&building=1"))
                .await;
        assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("street")));
        // Executors register nothing, so they get no suggestions.
        let (executor, _) = login(&env, "petro").await;
        let (status, _) = suggest(&env, &executor, "category_code=water.leak").await;
        assert_eq!(status, 403);
    }
}
