//! Applicants: search by phone, name or address; create; read. Every read of personal data
//! by a person is written to the audit log (Law 2297-VI).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_appeals::normalize_phone;
use kontakt_store::{ApplicantQuery, NewAudit};

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{ApplicantDto, ApplicantSearch, NewApplicantRequest};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::registration::{applicant_domain, applicant_record, now};

/// Records that `caller` saw the personal data of these applicants.
pub(crate) async fn audit_read(
    state: &AppState,
    caller: &Caller,
    ids: impl IntoIterator<Item = i64>,
    why: &str,
) -> ApiResult<()> {
    for id in ids {
        state
            .store
            .audit(NewAudit {
                user_id: Some(caller.user.id),
                action: "read_personal_data".into(),
                subject_kind: "applicant".into(),
                subject_id: id.to_string(),
                detail: Some(why.to_string()),
                at: now(),
            })
            .await?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/applicants", tag = "applicants",
    params(("phone" = Option<String>, Query), ("name" = Option<String>, Query),
        ("address" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "OK", body = Vec<ApplicantDto>), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn search_applicants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ApplicantSearch>,
) -> ApiResult<Json<Vec<ApplicantDto>>> {
    caller.require(Permission::ReadApplicants)?;
    let phone = match q.phone.as_deref() {
        Some(raw) => Some(
            normalize_phone(raw)
                .map_err(|e| ApiError::field("phone", "invalid_phone", e.to_string()))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let name = q.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let address = q.address.map(|a| a.trim().to_lowercase()).filter(|a| !a.is_empty());
    if phone.is_none() && name.is_none() && address.is_none() {
        return Err(ApiError::bad_request("give phone, name or address to search by"));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "1 to 100"));
    }
    let query = ApplicantQuery { phone, name, address, limit };
    let found = state.store.find_applicants(&query).await?;
    let ids: Vec<i64> = found.iter().map(|a| a.id).collect();
    audit_read(&state, &caller, ids, "search").await?;
    Ok(Json(found.into_iter().map(ApplicantDto::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/applicants", tag = "applicants", request_body = NewApplicantRequest,
    responses((status = 201, description = "created", body = ApplicantDto), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn create_applicant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewApplicantRequest>,
) -> ApiResult<(StatusCode, Json<ApplicantDto>)> {
    caller.require(Permission::WriteApplicants)?;
    let valid = applicant_domain(req).validate()?;
    let created = state.store.create_applicant(applicant_record(valid), now()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/v1/applicants/{id}", tag = "applicants",
    params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = ApplicantDto), (status = 404, description = "not found (or not visible to the caller)", body = crate::error::ErrorBody)))]
pub(crate) async fn get_applicant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ApplicantDto>> {
    caller.require(Permission::ReadApplicants)?;
    let applicant = state.store.applicant(id).await?;
    audit_read(&state, &caller, [id], "read").await?;
    Ok(Json(applicant.into()))
}
