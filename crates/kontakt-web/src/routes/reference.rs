//! Reference data: the category tree, executors and the responsibility map.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontakt_appeals::{Category, ResponsibilityLine};
use kontakt_store::{NewExecutor, NewResponsibility};

use crate::AppState;
use crate::access::Permission;
use crate::auth::Caller;
use crate::dto::{
    CategoryDto, ExecutorDto, ExecutorRequest, ResponsibilityDto, ResponsibilityRequest,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::registration::now;

#[utoipa::path(get, path = "/api/v1/categories", tag = "reference",
    responses((status = 200, description = "OK", body = Vec<CategoryDto>)))]
pub(crate) async fn list_categories(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CategoryDto>>> {
    caller.require(Permission::ReadReference)?;
    Ok(Json(state.store.categories().await?.into_iter().map(CategoryDto::from).collect()))
}

#[utoipa::path(put, path = "/api/v1/categories/{code}", tag = "reference",
    params(("code" = String, Path)), request_body(content = Object, description = "a category"),
    responses((status = 200, description = "OK", body = CategoryDto), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn put_category(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<CategoryDto>> {
    caller.require(Permission::ManageReference)?;
    let category = category_body(body)?;
    if category.code != code {
        return Err(ApiError::field("code", "mismatch", "the body's code must match the path"));
    }
    category.validate()?;
    if let Some(parent) = &category.parent_code {
        match state.store.category(parent).await? {
            None => {
                return Err(ApiError::field(
                    "parent_code",
                    "not_found",
                    format!("no category {parent:?}"),
                ));
            }
            // Only leaves take questions: a child under a leaf would leave the tree with a leaf
            // that has children (the invariant `validate_tree` states). Make the parent a
            // group first.
            Some(p) if p.is_leaf => {
                return Err(ApiError::field(
                    "parent_code",
                    "not_a_group",
                    format!("{parent:?} is a leaf; make it a group (is_leaf: false) first"),
                ));
            }
            Some(_) => {}
        }
    }
    if category.is_leaf
        && state.store.categories().await?.iter().any(|c| c.parent_code.as_ref() == Some(&code))
    {
        return Err(ApiError::field(
            "is_leaf",
            "mismatch",
            "a category with children is a group, not a leaf",
        ));
    }
    state.store.upsert_category(category.clone()).await?;
    Ok(Json(category.into()))
}

/// The domain's `Category` accepts unknown keys; an API body with a misspelt key must not be
/// stored as if the key had been left out, so unknown keys are refused like everywhere else.
fn category_body(body: serde_json::Value) -> ApiResult<Category> {
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", m);
    let category: Category =
        serde_json::from_value(body.clone()).map_err(|e| invalid(e.to_string()))?;
    let known = serde_json::to_value(&category).map_err(|_| ApiError::internal())?;
    if let (Some(sent), Some(known)) = (body.as_object(), known.as_object())
        && let Some(key) = sent.keys().find(|k| !known.contains_key(*k))
    {
        return Err(invalid(format!("unknown field `{key}`")));
    }
    Ok(category)
}

#[utoipa::path(get, path = "/api/v1/executors", tag = "reference",
    responses((status = 200, description = "OK", body = Vec<ExecutorDto>)))]
pub(crate) async fn list_executors(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ExecutorDto>>> {
    caller.require(Permission::ReadReference)?;
    Ok(Json(state.store.executors().await?.into_iter().map(ExecutorDto::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/executors", tag = "reference", request_body = ExecutorRequest,
    responses((status = 201, description = "created", body = ExecutorDto), (status = 409, description = "conflict: illegal transition, stale version or duplicate", body = crate::error::ErrorBody)))]
pub(crate) async fn create_executor(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ExecutorRequest>,
) -> ApiResult<(StatusCode, Json<ExecutorDto>)> {
    caller.require(Permission::ManageReference)?;
    let code = req.code.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(ApiError::field("code", "invalid", "1–64 characters"));
    }
    if req.name_uk.trim().is_empty() || req.name_uk.chars().count() > 300 {
        return Err(ApiError::field("name_uk", "invalid", "1–300 characters"));
    }
    let created = state
        .store
        .create_executor(
            NewExecutor {
                code: code.to_string(),
                name_uk: req.name_uk.trim().to_string(),
                name_en: req.name_en,
                phone: req.phone,
            },
            now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/api/v1/responsibilities", tag = "reference",
    responses((status = 200, description = "OK", body = Vec<ResponsibilityDto>)))]
pub(crate) async fn list_responsibilities(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ResponsibilityDto>>> {
    caller.require(Permission::ReadReference)?;
    Ok(Json(
        state.store.responsibilities().await?.into_iter().map(ResponsibilityDto::from).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/responsibilities", tag = "reference",
    request_body = ResponsibilityRequest,
    responses((status = 201, description = "created", body = ResponsibilityDto), (status = 422, description = "invalid input; `fields` names each field at fault", body = crate::error::ErrorBody)))]
pub(crate) async fn create_responsibility(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ResponsibilityRequest>,
) -> ApiResult<(StatusCode, Json<ResponsibilityDto>)> {
    caller.require(Permission::ManageReference)?;
    if req.category_prefix.trim().is_empty() {
        return Err(ApiError::field(
            "category_prefix",
            "required",
            "name a category code or prefix",
        ));
    }
    let at = now();
    let valid_from = req.valid_from.unwrap_or(at);
    if req.valid_to.is_some_and(|to| to <= valid_from) {
        return Err(ApiError::field("valid_to", "out_of_range", "must be after valid_from"));
    }
    let line = ResponsibilityLine {
        id: 0,
        category_prefix: req.category_prefix.trim().to_string(),
        district: req.district,
        building_key: req.building_key,
        executor_id: req.executor_id,
        valid_from,
        valid_to: req.valid_to,
    };
    // The domain's rules for a line: prefix syntax (it is matched against category codes),
    // bounded texts, a non-empty validity window.
    line.validate()?;
    let line = state
        .store
        .add_responsibility(
            NewResponsibility {
                category_prefix: line.category_prefix,
                district: line.district,
                building_key: line.building_key,
                executor_id: line.executor_id,
                valid_from: line.valid_from,
                valid_to: line.valid_to,
            },
            at,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(line.into())))
}
