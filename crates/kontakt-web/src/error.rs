//! The one error type of the API: a stable machine-readable code, a message for people, and
//! for validation failures the list of fields at fault.
//!
//! Database and internal errors are logged with their detail and answered with a bare
//! `internal` code: SQL text never reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kontakt_appeals::ValidationErrors;
use kontakt_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldErrorBody>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `invalid_body`, `invalid_path`, `invalid_query`,
    /// `validation_failed` (see `fields`), `missing_reference`, `unauthenticated`,
    /// `bad_credentials`, `forbidden`, `csrf_failed`, `password_change_required`, `not_found`,
    /// `method_not_allowed`, `conflict`, `stale`, `illegal_transition`, `payload_too_large`,
    /// `unsupported_media_type`, `internal`; for outages: `already_ended`; for the desk, the wall board and the feed:
    /// `not_an_operator`, `not_your_call`, `not_answered`, `already_linked`, `no_live_call`,
    /// `refused`, `origin_mismatch`, `upgrade_required`, `telephony_disabled`,
    /// `telephony_unavailable`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldErrorBody>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), fields: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "log in first")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// One field at fault, as a 422.
    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::new();
        errors.push(field, code, message);
        errors.into()
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        let fields: Vec<FieldErrorBody> = errors
            .iter()
            .map(|f| FieldErrorBody {
                field: f.field.clone(),
                code: f.code.to_string(),
                message: f.message.clone(),
            })
            .collect();
        let message = match fields.first() {
            Some(f) if fields.len() == 1 => format!("{}: {}", f.field, f.message),
            _ => format!("{} fields are invalid", fields.len()),
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_failed",
            message,
            fields,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => ApiError::not_found(what),
            StoreError::Conflict(what) => ApiError::conflict(format!("already exists: {what}")),
            StoreError::MissingReference(what) => {
                // `what` is the database's constraint name: schema detail, for the log only.
                tracing::debug!(constraint = %what, "missing reference");
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "missing_reference",
                    "refers to something that does not exist (check the ids in the request)",
                )
            }
            StoreError::Stale { what } => ApiError::new(
                StatusCode::CONFLICT,
                "stale",
                format!("the {what} was changed by someone else; reload and retry"),
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                fields: self.fields,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
