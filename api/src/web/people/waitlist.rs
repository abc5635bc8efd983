//! The waitlist from the event page: join, see the place in line, leave.
//! An offer is a hold: the event page links to it, to pay before its end.

use marquee_core::auth::Invalid;
use marquee_core::waitlist::WaitRequest;
use poem::web::Path;
use poem::{Response, handler};
use uuid::Uuid;

use crate::actions::waitlist as actions;
use crate::problem::ApiError;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web, see_other};

/// `POST /events/:id/waitlist`: `quantity`, and optionally a
/// `ticket_type_id` or `section_id`.
#[handler]
pub async fn join(web: Web, Path(event): Path<Uuid>, fields: Fields) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let parsed = (
        fields.text("quantity").map(str::parse::<i32>),
        fields.text("ticket_type_id").map(str::parse::<Uuid>),
        fields.text("section_id").map(str::parse::<Uuid>),
    );
    let joined = match parsed {
        (Some(Ok(quantity)), ticket_type, section)
            if !matches!(ticket_type, Some(Err(_))) && !matches!(section, Some(Err(_))) =>
        {
            let request = WaitRequest {
                quantity,
                ticket_type_id: ticket_type.and_then(Result::ok),
                section_id: section.and_then(Result::ok),
            };
            actions::join(&web.state, me, event, &request).await
        }
        (quantity, ticket_type, section) => {
            let mut problems = Vec::new();
            if !matches!(quantity, Some(Ok(_))) {
                problems.push(Invalid::new("quantity", "must be a whole number"));
            }
            if matches!(ticket_type, Some(Err(_))) {
                problems.push(Invalid::new(
                    "ticket_type_id",
                    "not one of this event's ticket types",
                ));
            }
            if matches!(section, Some(Err(_))) {
                problems.push(Invalid::new(
                    "section_id",
                    "not one of this venue's sections",
                ));
            }
            Err(ApiError::from(problems))
        }
    };
    match joined {
        Ok(_) => Ok(see_other(&format!("/events/{event}#waitlist"))),
        Err(error) => {
            super::event::render(&web, event, &fields, &Default::default(), Some(&error)).await
        }
    }
}

/// `POST /events/:id/waitlist/leave`
#[handler]
pub async fn leave(web: Web, Path(event): Path<Uuid>) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    actions::leave(&web.state, me, event)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(see_other(&format!("/events/{event}")))
}
