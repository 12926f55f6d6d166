//! Logging in and out, and the caller's own account.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::Duration;

use crate::AppState;
use crate::auth::{self, Caller};
use crate::dto::{LoginRequest, LoginResponse, PasswordChange, UserDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::registration::now;

pub(crate) const MIN_PASSWORD_LEN: usize = 10;

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "OK", body = LoginResponse), (status = 401, description = "not logged in, or wrong credentials", body = crate::error::ErrorBody)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let wrong =
        || ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong username or password");
    let creds = state.store.user_credentials(&req.username).await?.ok_or_else(wrong)?;
    // Verifying on the blocking pool: Argon2 takes tens of milliseconds of CPU by design.
    let hash = creds.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&req.password, &hash))
        .await
        .map_err(|_| ApiError::internal())?;
    if !ok || !creds.user.active {
        return Err(wrong());
    }
    let token = auth::new_token();
    let csrf = auth::new_token();
    let at = now();
    let hours = i64::from(state.settings.session_hours);
    let expires_at = at + Duration::hours(hours);
    state
        .store
        .create_session(auth::token_hash(&token), creds.user.id, csrf.clone(), at, expires_at)
        .await?;
    let mut headers = HeaderMap::new();
    let cookie = auth::session_cookie(&token, hours * 3600, state.settings.cookie_secure);
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::internal())?,
    );
    Ok((headers, Json(LoginResponse { user: creds.user.into(), csrf_token: csrf, expires_at })))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204, description = "done")))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    if let Some(hash) = &caller.session_hash {
        state.store.delete_session(hash).await?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::clear_cookie()).map_err(|_| ApiError::internal())?,
    );
    Ok((StatusCode::NO_CONTENT, headers))
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "OK", body = UserDto), (status = 401, description = "not logged in, or wrong credentials", body = crate::error::ErrorBody)))]
pub(crate) async fn me(caller: Caller) -> Json<UserDto> {
    Json(caller.user.into())
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "done"), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<impl IntoResponse> {
    if req.new_password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::field(
            "new_password",
            "too_short",
            format!("at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    let creds = state
        .store
        .user_credentials(&caller.user.username)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let (old, new, hash) = (req.old_password, req.new_password, creds.password_hash);
    let new_hash = tokio::task::spawn_blocking(move || {
        auth::verify_password(&old, &hash).then(|| auth::hash_password(&new))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .ok_or_else(|| ApiError::field("old_password", "mismatch", "the old password is wrong"))??;
    // The store ends every session of the user, this one included: clear its cookie too.
    state.store.set_password(caller.user.id, new_hash, false).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&auth::clear_cookie()).map_err(|_| ApiError::internal())?,
    );
    Ok((StatusCode::NO_CONTENT, headers))
}
