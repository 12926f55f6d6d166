//! The OpenAPI document: it parses, names every route, every operation has responses, every
//! reference resolves, and (with `KONTAKT_OPENAPI_VALIDATOR`, see tests/tools/setup.sh) an
//! independent validator accepts it.

use std::collections::BTreeSet;

use kontakt_store::Role;
use serde_json::Value;

use crate::harness::*;

crate::on_both_backends!(the_served_document_is_the_generated_one);

fn doc() -> Value {
    serde_json::from_str(&kontakt_web::openapi_json()).unwrap()
}

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options", "trace"];

#[test]
fn document_is_complete_and_consistent() {
    let d = doc();
    let version = d["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "{version}");
    assert!(d["info"]["title"].is_string() && d["info"]["version"].is_string());
    let paths = d["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let mut operation_ids = BTreeSet::new();
    let mut refs = BTreeSet::new();
    collect_refs(&d, &mut refs);
    for (path, ops) in paths {
        assert!(
            ["/health", "/metrics"].contains(&path.as_str()) || path.starts_with("/api/v1/"),
            "{path}"
        );
        let ops = ops.as_object().unwrap();
        for (method, op) in ops.iter().filter(|(m, _)| METHODS.contains(&m.as_str())) {
            let responses = op["responses"].as_object();
            assert!(responses.is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
            for (status, resp) in responses.unwrap() {
                assert!(
                    status.len() == 3 && status.parse::<u16>().is_ok(),
                    "{method} {path}: {status}"
                );
                assert!(
                    resp["description"].is_string(),
                    "{method} {path} {status}: no description"
                );
            }
            if let Some(id) = op["operationId"].as_str() {
                assert!(operation_ids.insert(id.to_string()), "operationId {id} twice");
            }
            // Every {param} of the path is declared as a path parameter.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let used: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, used, "{method} {path}: path parameters");
            if ["post", "put"].contains(&method.as_str()) && !path.ends_with("/logout") {
                assert!(op["requestBody"].is_object(), "{method} {path} has no request body");
            }
        }
    }
    let schemas = d["components"]["schemas"].as_object().unwrap();
    for r in &refs {
        let name =
            r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("odd $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} does not resolve");
    }
    assert!(schemas.contains_key("ErrorBody"));
    // Clients read error.code: the document lists every code the API answers with.
    let described =
        schemas["ErrorDetail"]["properties"]["code"]["description"].as_str().unwrap_or_default();
    let missing: Vec<_> =
        ERROR_CODES.iter().filter(|c| !described.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "error codes the document does not list: {missing:?}");
}

/// Every `error.code` the API answers with; bad_input fails on a code missing here.
pub const ERROR_CODES: &[&str] = &[
    "bad_request",
    "invalid_body",
    "invalid_path",
    "invalid_query",
    "validation_failed",
    "missing_reference",
    "unauthenticated",
    "bad_credentials",
    "forbidden",
    "csrf_failed",
    "password_change_required",
    "not_found",
    "method_not_allowed",
    "conflict",
    "stale",
    "illegal_transition",
    "payload_too_large",
    "unsupported_media_type",
    "internal",
    "already_ended",
    "not_an_operator",
    "not_your_call",
    "not_answered",
    "already_linked",
    "no_live_call",
    "refused",
    "origin_mismatch",
    "upgrade_required",
    "telephony_disabled",
    "telephony_unavailable",
];

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r.clone());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// An independent validator (openapi-spec-validator from PyPI), when one is installed.
#[test]
fn an_independent_validator_accepts_the_document() {
    let Ok(python) = std::env::var("KONTAKT_OPENAPI_VALIDATOR") else {
        eprintln!("KONTAKT_OPENAPI_VALIDATOR is not set (see tests/tools/setup.sh): skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, kontakt_web::openapi_json()).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn the_served_document_is_the_generated_one(env: &Env) {
    // Public, and the same document the code generates.
    let r = env.call(&ANON, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(r.expect(200), &doc());
    let ct = r.headers.get(axum::http::header::CONTENT_TYPE).unwrap().to_str().unwrap();
    assert!(ct.starts_with("application/json"), "{ct}");
    // The engine runs, but no FreeSWITCH is attached here: health says so.
    let r = env.call(&ANON, "GET", "/health", None).await;
    assert_eq!(
        r.expect(503),
        &serde_json::json!({"status": "unhealthy", "database": "ok",
            "telephony": "esl_disconnected",
            "reason": "FreeSWITCH's event socket is not connected"})
    );
    assert!(doc()["paths"]["/health"]["get"]["responses"].get("503").is_some());
    // Without telephony (the registry alone), health is fine and says telephony is off.
    let r = send(env.app_without_telephony(), env.request(&ANON, "GET", "/health", None)).await;
    assert_eq!(
        r.expect(200),
        &serde_json::json!({"status": "ok", "database": "ok", "telephony": "disabled"})
    );
    // Every documented GET without parameters answers as the document says (200 for a role
    // that may call it).
    for (path, ops) in doc()["paths"].as_object().unwrap() {
        if path.contains('{') || ops.get("get").is_none() {
            continue;
        }
        if ["/api/v1/applicants", "/health", "/api/v1/feed"].contains(&path.as_str()) {
            continue; // a search term; checked above; a WebSocket (telephony.rs)
        }
        let role = if path == "/api/v1/desk" { Role::Operator } else { Role::Admin };
        let r = env.call(&Who::Role(role), "GET", path, None).await;
        assert_eq!(r.status.as_u16(), 200, "GET {path}: {}", r.body);
        assert!(ops["get"]["responses"].get("200").is_some(), "GET {path}: 200 undocumented");
    }
}
