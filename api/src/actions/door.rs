//! The door: one scan of a ticket.

use marquee_core::tickets::checkin::{self, CheckinError, Scan};
use uuid::Uuid;

use crate::problem::{ApiError, FieldError};
use crate::routes::CheckinView;
use crate::state::AppState;

/// Checks a ticket in by QR token or typed code (the caller checked who may
/// work this event's door). Every outcome is a view: `ok`, `already_used`,
/// `revoked`, `wrong_event` or `unknown`; an admission publishes a live
/// update. A code that cannot be one is 422.
pub async fn check_in(state: &AppState, event: Uuid, scan: &Scan) -> Result<CheckinView, ApiError> {
    match checkin::check_in(&state.pool, event, scan).await {
        Ok(outcome) => {
            let view = CheckinView::from(outcome);
            if view.status == "ok" {
                state.live.changed(event);
            }
            Ok(view)
        }
        Err(CheckinError::Malformed(why)) => Err(ApiError::Validation(vec![FieldError {
            field: "code".to_owned(),
            message: why.0.to_owned(),
        }])),
        Err(CheckinError::Database(error)) => Err(error.into()),
    }
}
