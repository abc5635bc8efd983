//! The error half of the API contract, derived from code so `/openapi.json`
//! cannot drift from what the server answers:
//!
//! - A handler names the problems it returns in its type,
//!   `Result<T, Problems<{ NOT_FOUND | CONFLICT }>>`; `?` turns anything
//!   that converts to [`ApiError`] into it. Every handler that can fail
//!   reaches PostgreSQL, so 503 (a transient database error) is always
//!   listed.
//! - What an operation meets before its handler runs is added to it by
//!   [`Contract`], from the operation's own shape: 422 for control
//!   characters anywhere and 408/413 for a slow or large body on any
//!   operation (the boundary), 400 for unparsable parameters, 400 and 415
//!   for a body, and the refusals of its security schemes.
//!
//! Each problem is `application/problem+json` with the [`Problem`] schema;
//! 429 and 503 carry `Retry-After`. `api/tests/common` checks every status
//! the test suite sees against the document.

use std::collections::HashMap;

use poem::http::Method;
use poem_openapi::registry::{
    MetaApi, MetaHeader, MetaMediaType, MetaOperation, MetaResponse, MetaResponses, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, OpenApi};

use crate::problem::{ApiError, PROBLEM_JSON, Problem};

/// 400: a parameter or body poem-openapi cannot parse.
pub const BAD_REQUEST: u32 = 1 << 0;
/// 401
pub const UNAUTHORIZED: u32 = 1 << 1;
/// 402
pub const PAYMENT_REQUIRED: u32 = 1 << 2;
/// 403
pub const FORBIDDEN: u32 = 1 << 3;
/// 404
pub const NOT_FOUND: u32 = 1 << 4;
/// 408
pub const REQUEST_TIMEOUT: u32 = 1 << 5;
/// 409
pub const CONFLICT: u32 = 1 << 6;
/// 410
pub const GONE: u32 = 1 << 7;
/// 413
pub const PAYLOAD_TOO_LARGE: u32 = 1 << 8;
/// 415
pub const UNSUPPORTED_MEDIA_TYPE: u32 = 1 << 9;
/// 422
pub const UNPROCESSABLE_ENTITY: u32 = 1 << 10;
/// 429
pub const TOO_MANY_REQUESTS: u32 = 1 << 11;
/// 503
pub const SERVICE_UNAVAILABLE: u32 = 1 << 12;
/// No problem of the handler's own (it still lists 503).
pub const NONE: u32 = 0;

/// Every status above: its bit, code and description.
const STATUSES: [(u32, u16, &str); 13] = [
    (
        BAD_REQUEST,
        400,
        "A parameter or the body cannot be parsed, or is of the wrong type.",
    ),
    (
        UNAUTHORIZED,
        401,
        "Missing, invalid, expired or revoked credentials.",
    ),
    (PAYMENT_REQUIRED, 402, "The payment was declined."),
    (
        FORBIDDEN,
        403,
        "Signed in, but not allowed: wrong role, API key scope or credential type, or an unverified address.",
    ),
    (NOT_FOUND, 404, "Not found, or not the caller's to see."),
    (
        REQUEST_TIMEOUT,
        408,
        "The body did not arrive within `http.body_read_timeout_seconds`.",
    ),
    (
        CONFLICT,
        409,
        "Conflicts with the current state (taken, duplicate, wrong status, reused Idempotency-Key).",
    ),
    (GONE, 410, "It existed and is gone (an expired hold)."),
    (
        PAYLOAD_TOO_LARGE,
        413,
        "The body is larger than `http.max_body_bytes`.",
    ),
    (
        UNSUPPORTED_MEDIA_TYPE,
        415,
        "The body is not `application/json`.",
    ),
    (
        UNPROCESSABLE_ENTITY,
        422,
        "Invalid input (control characters included); `errors` names each field.",
    ),
    (
        TOO_MANY_REQUESTS,
        429,
        "Rate limited; retry after `Retry-After` seconds.",
    ),
    (
        SERVICE_UNAVAILABLE,
        503,
        "A dependency is busy or down; retry after `Retry-After` seconds.",
    ),
];

/// The documented responses of `mask`, by status.
fn responses(mask: u32) -> Vec<MetaResponse> {
    STATUSES
        .iter()
        .filter(|(bit, _, _)| mask & bit != 0)
        .map(|(bit, status, description)| MetaResponse {
            description,
            status: Some(*status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: PROBLEM_JSON,
                schema: Problem::schema_ref(),
            }],
            headers: if bit & (TOO_MANY_REQUESTS | SERVICE_UNAVAILABLE) != 0 {
                vec![MetaHeader {
                    name: "Retry-After".to_owned(),
                    description: Some("Seconds to wait before retrying.".to_owned()),
                    required: true,
                    deprecated: false,
                    schema: u32::schema_ref(),
                }]
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// The problems a handler can return: the statuses in `S` (bits above) and
/// 503. Use as `Result<T, Problems<{ NOT_FOUND | CONFLICT }>>`.
#[derive(Debug)]
pub struct Problems<const S: u32>(pub ApiError);

impl<const S: u32, E: Into<ApiError>> From<E> for Problems<S> {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl<const S: u32> From<Problems<S>> for poem::Error {
    fn from(problems: Problems<S>) -> Self {
        // The ApiError itself, so `problem::render` keeps its body.
        problems.0.into()
    }
}

impl<const S: u32> ApiResponse for Problems<S> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: responses(S | SERVICE_UNAVAILABLE),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// The API with every operation's boundary and security problems added to
/// its documented responses.
pub struct Contract<T>(pub T);

impl<T: OpenApi> OpenApi for Contract<T> {
    fn meta() -> Vec<MetaApi> {
        let mut apis = T::meta();
        for operation in apis
            .iter_mut()
            .flat_map(|api| api.paths.iter_mut())
            .flat_map(|path| path.operations.iter_mut())
        {
            complete(operation);
        }
        apis
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
        Problem::register(registry);
    }

    fn add_routes(
        self,
        route_table: &mut HashMap<String, HashMap<Method, poem::endpoint::BoxEndpoint<'static>>>,
    ) {
        self.0.add_routes(route_table);
    }
}

/// What an operation can answer before (or around) its handler.
fn boundary(operation: &MetaOperation) -> u32 {
    // Control characters in the path, query, body or Idempotency-Key; and a
    // body too large or too slow, which the boundary reads (and refuses)
    // whether or not the operation takes one.
    let mut mask = UNPROCESSABLE_ENTITY | REQUEST_TIMEOUT | PAYLOAD_TOO_LARGE;
    if !operation.params.is_empty() {
        mask |= BAD_REQUEST;
    }
    if operation.request.is_some() {
        mask |= BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE;
    }
    // An empty requirement means credentials are optional: bad ones count
    // as none.
    if !operation.security.iter().any(HashMap::is_empty) {
        for scheme in operation.security.iter().flat_map(HashMap::keys) {
            mask |= crate::auth::refusals(scheme);
        }
    }
    mask
}

fn complete(operation: &mut MetaOperation) {
    let documented: Vec<u16> = operation
        .responses
        .responses
        .iter()
        .filter_map(|r| r.status)
        .collect();
    let added = responses(boundary(operation))
        .into_iter()
        .filter(|r| r.status.is_some_and(|s| !documented.contains(&s)));
    let all = &mut operation.responses.responses;
    all.extend(added);
    all.sort_by_key(|r| r.status.unwrap_or(u16::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_bit_and_a_problem_body() {
        let all = STATUSES.iter().fold(0, |mask, (bit, _, _)| {
            assert_eq!(mask & bit, 0, "bits are distinct");
            mask | bit
        });
        let listed = responses(all);
        assert_eq!(listed.len(), STATUSES.len());
        assert!(
            listed
                .iter()
                .all(|r| r.content[0].content_type == PROBLEM_JSON)
        );
    }

    #[test]
    fn problems_list_their_statuses_and_503() {
        let statuses: Vec<_> = Problems::<{ NOT_FOUND | CONFLICT }>::meta()
            .responses
            .iter()
            .filter_map(|r| r.status)
            .collect();
        assert_eq!(statuses, [404, 409, 503]);
    }
}
