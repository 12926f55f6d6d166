//! axum REST API with OpenAPI, sessions and roles.
