//! The OpenAPI document, generated from the handlers' annotations and the DTO types.

use axum::Json;
use utoipa::OpenApi;

use crate::dto::*;
use crate::error::{ErrorBody, ErrorDetail, FieldErrorBody};
use crate::routes::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kontakt API",
        version = "1",
        description = "Municipal contact center: appeals registry (Law of Ukraine 393/96), outages (docs/outages.md), the operators' desk, the supervisors' wall board and the live feed (a WebSocket; protocol in docs/websocket.md)."
    ),
    paths(
        health,
        metrics,
        serve,
        login,
        logout,
        me,
        change_password,
        list_users,
        create_user,
        create_token,
        audit_log,
        search_applicants,
        create_applicant,
        get_applicant,
        register_appeal,
        list_appeals,
        get_appeal,
        get_appeal_by_number,
        appeal_suggestions,
        appeal_timeline,
        extend_deadline,
        add_assignment,
        get_assignment,
        transition_assignment,
        list_categories,
        put_category,
        list_executors,
        create_executor,
        list_responsibilities,
        create_responsibility,
        create_outage,
        list_outages,
        end_outage,
        get_desk,
        set_desk_state,
        link_call,
        hold,
        hangup,
        transfer,
        get_wallboard,
        get_intraday,
        force_agent_state,
        move_call,
        set_priority,
        eavesdrop,
        feed
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        FieldErrorBody,
        LoginRequest,
        LoginResponse,
        PasswordChange,
        UserDto,
        NewUserRequest,
        NewTokenRequest,
        NewTokenResponse,
        AddressDto,
        NewApplicantRequest,
        ApplicantDto,
        EmergencyDto,
        NewQuestionRequest,
        NewAppealRequest,
        AppealDto,
        QuestionDto,
        AssignmentDto,
        RegistrationResponse,
        SuggestionDto,
        SuggestionsDto,
        AppealPage,
        NewAssignmentRequest,
        TransitionRequest,
        ExtendRequest,
        TimelineDto,
        CategoryDto,
        ExecutorRequest,
        ExecutorDto,
        ResponsibilityRequest,
        ResponsibilityDto,
        OutagePlaceDto,
        OutageRequest,
        OutageDto,
        EndOutageRequest,
        AuditDto,
        Health,
        AgentStateRequest,
        StateRequest,
        TransferTargetDto,
        DeskDto,
        LinkRequest,
        LinkResponse,
        HoldRequest,
        HangupRequest,
        TransferRequest,
        AgentDto,
        LiveCallDto,
        WallboardDto,
        IntradayDto,
        IntradayBucketDto,
        AgentAnsweredDto,
        MoveCallRequest,
        PriorityRequest,
        EavesdropModeDto,
        EavesdropRequest
    ))
)]
struct ApiDoc;

pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".to_string())
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "this document", body = Object)))]
pub(crate) async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}
