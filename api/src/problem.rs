//! Errors as `application/problem+json` (RFC 9457), for our own errors and
//! for poem's (404, 405, unparsable bodies) alike. Internals never leak:
//! a 500 says only that something failed and which request it was.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Response, error::ResponseError};
use poem_openapi::Object;
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a 422.
#[derive(Debug, Clone, Serialize, Object, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `payload.to`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Object)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` means "see status".
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// This occurrence, in words.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For 422: one entry per invalid field.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For a 409 on a hold: the seats someone else has.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_seats: Option<Vec<uuid::Uuid>>,
    /// For a check-in that did not admit (404, 409, 410): what the door
    /// staff need to know.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkin: Option<crate::routes::CheckinView>,
}

impl Problem {
    /// A problem for `status` with a detail line.
    pub fn new(status: StatusCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
            unavailable_seats: None,
            checkin: None,
        }
    }

    /// Renders the response with the problem media type.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .body(body)
    }
}

/// Every error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400
    #[error("{0}")]
    BadRequest(String),
    /// 401
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: missing, or not the caller's to see.
    #[error("{0}")]
    NotFound(String),
    /// 402: the payment was declined.
    #[error("{0}")]
    PaymentRequired(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 409 naming the seats that are taken.
    #[error("some seats are not available")]
    SeatsTaken(Vec<uuid::Uuid>),
    /// 413: the body is larger than `http.max_body_bytes`.
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Bytes.
        limit: usize,
    },
    /// 408: the body did not arrive within `http.body_read_timeout_seconds`.
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout {
        /// Seconds allowed.
        seconds: u64,
    },
    /// 410: it existed, and is gone.
    #[error("{0}")]
    Gone(String),
    /// 409 with Retry-After: it is being made (a ticket being issued).
    #[error("{detail}")]
    NotReady {
        /// What is not ready.
        detail: String,
        /// Seconds.
        retry_after: u32,
    },
    /// A scan that did not admit: 404 unknown, 409 already used or wrong
    /// event, 410 revoked; the body says which.
    #[error("{}", .0.detail)]
    Checkin(Box<crate::routes::CheckinView>),
    /// 422 with one entry per field.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// 429 with Retry-After.
    #[error("too many requests; retry after {retry_after} s")]
    RateLimited {
        /// Seconds.
        retry_after: u32,
    },
    /// 503 with Retry-After.
    #[error("{detail}")]
    Unavailable {
        /// What is down.
        detail: String,
        /// Seconds.
        retry_after: u32,
    },
    /// 500; logged in full, shown as a generic line.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<Vec<marquee_core::auth::Invalid>> for ApiError {
    fn from(problems: Vec<marquee_core::auth::Invalid>) -> Self {
        Self::Validation(
            problems
                .into_iter()
                .map(|p| FieldError {
                    field: p.field.to_owned(),
                    message: p.message,
                })
                .collect(),
        )
    }
}

impl From<marquee_core::catalog::CatalogError> for ApiError {
    fn from(error: marquee_core::catalog::CatalogError) -> Self {
        use marquee_core::catalog::CatalogError;
        match error {
            CatalogError::NotFound(what) => Self::NotFound(what.to_owned()),
            CatalogError::Conflict(reason) => Self::Conflict(reason),
            CatalogError::Invalid(problems) => problems.into(),
            CatalogError::Database(error) => error.into(),
        }
    }
}

impl From<marquee_core::booking::BookingError> for ApiError {
    fn from(error: marquee_core::booking::BookingError) -> Self {
        use marquee_core::booking::BookingError;
        match error {
            BookingError::NotFound(what) => Self::NotFound(what.to_owned()),
            BookingError::Conflict(reason) => Self::Conflict(reason),
            BookingError::SeatsTaken(seats) => Self::SeatsTaken(seats),
            BookingError::Gone(reason) => Self::Gone(reason),
            BookingError::PaymentDeclined(reason) => Self::PaymentRequired(reason),
            BookingError::ProviderUnavailable(detail) => Self::Unavailable {
                detail,
                retry_after: 5,
            },
            BookingError::Invalid(problems) => problems.into(),
            BookingError::Database(error) => error.into(),
        }
    }
}

impl From<marquee_core::tickets::TicketError> for ApiError {
    fn from(error: marquee_core::tickets::TicketError) -> Self {
        use marquee_core::tickets::TicketError;
        match error {
            TicketError::NotFound(what) => Self::NotFound(what.to_owned()),
            TicketError::Conflict(reason) => Self::Conflict(reason),
            TicketError::Issuing => Self::NotReady {
                detail: error.to_string(),
                retry_after: 2,
            },
            TicketError::Database(error) => error.into(),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    /// A database outage anywhere in the chain is a 503, not a 500.
    fn from(error: anyhow::Error) -> Self {
        if error
            .chain()
            .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
            .any(marquee_core::db::is_unavailable)
        {
            return database_unavailable(&error);
        }
        Self::Internal(error)
    }
}

fn database_unavailable(error: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %error, "database unavailable");
    ApiError::Unavailable {
        detail: "the database is unavailable; try again shortly".to_owned(),
        retry_after: 5,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if marquee_core::db::is_unavailable(&error) {
            return database_unavailable(&error);
        }
        // A deadlock or serialization failure that survived the callee's
        // retries: the request may pass again, so it is not a 500.
        if marquee_core::db::is_transient(&error) {
            tracing::warn!(error = %error, "transient database error");
            return Self::Unavailable {
                detail: "the database was busy with conflicting requests; try again".to_owned(),
                retry_after: 1,
            };
        }
        Self::Internal(error.into())
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Conflict(_) | Self::SeatsTaken(_) | Self::NotReady { .. } => StatusCode::CONFLICT,
            Self::Checkin(view) => view.http_status(),
            Self::Gone(_) => StatusCode::GONE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let status = self.status();
        let mut problem = Problem::new(status, Some(self.to_string()));
        match self {
            Self::Validation(errors) => {
                problem.kind = "/problems/validation".to_owned();
                problem.detail = Some("the request has invalid fields".to_owned());
                problem.errors = Some(errors.clone());
            }
            Self::SeatsTaken(seats) => problem.unavailable_seats = Some(seats.clone()),
            Self::Checkin(view) => {
                problem.kind = format!("/problems/checkin/{}", view.status);
                problem.checkin = Some((**view).clone());
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                problem.detail =
                    Some("an internal error occurred; quote the X-Request-Id".to_owned());
            }
            _ => {}
        }
        let mut response = problem.into_response();
        if let Self::Unavailable { retry_after, .. }
        | Self::RateLimited { retry_after }
        | Self::NotReady { retry_after, .. } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if let Self::TooLarge { .. } | Self::BodyTimeout { .. } = self {
            // The rest of the body stays unread: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The last word on every error poem or a handler produced: our own errors
/// keep their body; anything else becomes a problem with poem's status and
/// message (never plain text).
pub async fn render(error: poem::Error) -> Response {
    let status = error.status();
    if error.is::<ApiError>() {
        return error.into_response();
    }
    let detail = if status.is_server_error() {
        tracing::error!(error = %error, "unhandled error");
        "an internal error occurred; quote the X-Request-Id".to_owned()
    } else {
        error.to_string()
    };
    let mut response = Problem::new(status, Some(detail)).into_response();
    // Keep headers such as Allow (405) or Retry-After from the original.
    let original = error.into_response();
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}
