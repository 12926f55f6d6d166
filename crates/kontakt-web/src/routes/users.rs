//! Accounts, API tokens and the audit log: administrators only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_store::{NewUser, Role};

use crate::AppState;
use crate::access::Permission;
use crate::auth::{self, Caller};
use crate::dto::{AuditDto, NewTokenRequest, NewTokenResponse, NewUserRequest, UserDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::registration::now;
use crate::routes::session::MIN_PASSWORD_LEN;

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, description = "OK", body = Vec<UserDto>), (status = 403, description = "this role may not do this", body = crate::error::ErrorBody)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserDto>>> {
    caller.require(Permission::ManageUsers)?;
    Ok(Json(state.store.users().await?.into_iter().map(UserDto::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, description = "created", body = UserDto), (status = 409, description = "conflict: illegal transition, stale version or duplicate", body = crate::error::ErrorBody),
        (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    caller.require(Permission::ManageUsers)?;
    let new = validate_new_user(req)?;
    let user = state.store.create_user(new, now()).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Checks a new account; shared by the API and `kontakt user add`.
pub fn validate_new_user(req: NewUserRequest) -> ApiResult<NewUser> {
    let role: Role =
        req.role.parse().map_err(|e: String| ApiError::field("role", "unknown_value", e))?;
    let username = req.username.trim().to_string();
    if username.is_empty()
        || username.len() > 64
        || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(ApiError::field(
            "username",
            "invalid",
            "1–64 characters: latin letters, digits, dot, dash, underscore",
        ));
    }
    if req.display_name.trim().is_empty() || req.display_name.chars().count() > 200 {
        return Err(ApiError::field("display_name", "invalid", "1–200 characters"));
    }
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::field(
            "password",
            "too_short",
            format!("at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    match (role, req.executor_id) {
        (Role::Executor, None) => {
            return Err(ApiError::field(
                "executor_id",
                "required",
                "an executor account needs its organisation",
            ));
        }
        (r, Some(_)) if r != Role::Executor => {
            return Err(ApiError::field(
                "executor_id",
                "not_allowed",
                "only executor accounts belong to an organisation",
            ));
        }
        _ => {}
    }
    Ok(NewUser {
        username,
        display_name: req.display_name.trim().to_string(),
        role,
        password_hash: auth::hash_password(&req.password)?,
        executor_id: req.executor_id,
        must_change_password: false,
    })
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "users", request_body = NewTokenRequest,
    responses((status = 201, description = "created", body = NewTokenResponse)))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<NewTokenResponse>)> {
    caller.require(Permission::ManageUsers)?;
    if req.name.trim().is_empty() || req.name.chars().count() > 100 {
        return Err(ApiError::field("name", "invalid", "1–100 characters"));
    }
    let token = auth::new_token();
    let id = state
        .store
        .create_api_token(
            caller.user.id,
            req.name.trim().to_string(),
            auth::token_hash(&token),
            now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(NewTokenResponse { id, token })))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, description = "OK", body = Vec<AuditDto>)))]
pub(crate) async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditDto>>> {
    caller.require(Permission::ReadAudit)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "1 to 1000"));
    }
    Ok(Json(state.store.audit_log(limit).await?.into_iter().map(AuditDto::from).collect()))
}
