//! Hold-back: while anyone waits for a kind of inventory, the public may
//! not hold that kind; freed units wait for the next promotion instead.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::booking::BookingError;

/// What an event's waiting entries hold back from the public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldBack {
    /// Someone waits for anything: nothing is on public sale.
    pub everything: bool,
    /// Sections whose seats are held back.
    pub sections: Vec<Uuid>,
    /// Ticket types whose units are held back.
    pub ticket_types: Vec<Uuid>,
    /// People waiting.
    pub waiting: i64,
}

impl HeldBack {
    /// Whether a seat of `section` is held back.
    pub fn section(&self, section: Uuid) -> bool {
        self.everything || self.sections.contains(&section)
    }

    /// Whether units of `ticket_type` are held back.
    pub fn ticket_type(&self, ticket_type: Uuid) -> bool {
        self.everything || self.ticket_types.contains(&ticket_type)
    }
}

/// What `event`'s line holds back now.
pub async fn held_back(
    db: impl sqlx::PgExecutor<'_>,
    event: Uuid,
) -> Result<HeldBack, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "waiting!",
                bool_or(ticket_type_id IS NULL AND section_id IS NULL) AS everything,
                array_agg(DISTINCT section_id) FILTER (WHERE section_id IS NOT NULL) AS sections,
                array_agg(DISTINCT ticket_type_id) FILTER (WHERE ticket_type_id IS NOT NULL)
                    AS ticket_types
         FROM waitlist_entries WHERE event_id = $1 AND status = 'waiting'"#,
        event,
    )
    .fetch_one(db)
    .await?;
    Ok(HeldBack {
        everything: row.everything.unwrap_or(false),
        sections: row.sections.unwrap_or_default(),
        ticket_types: row.ticket_types.unwrap_or_default(),
        waiting: row.waiting,
    })
}

/// 409 when a public hold asks for inventory someone waits for. Call it
/// holding the event's waitlist lock shared (`holds` does), so a join
/// cannot commit between this check and the claim.
pub async fn refuse_if_held_back(
    conn: &mut PgConnection,
    event: Uuid,
    seats: &[Uuid],
    ticket_type: Option<Uuid>,
) -> Result<(), BookingError> {
    let waiting = sqlx::query_scalar!(
        r#"SELECT count(*) AS "waiting!" FROM waitlist_entries w
         WHERE w.event_id = $1 AND w.status = 'waiting'
           AND ((w.ticket_type_id IS NULL AND w.section_id IS NULL)
                OR w.ticket_type_id = $2
                OR w.section_id IN (SELECT section_id FROM event_seats
                                    WHERE event_id = $1 AND seat_id = ANY($3)))"#,
        event,
        ticket_type,
        seats,
    )
    .fetch_one(conn)
    .await?;
    if waiting > 0 {
        return Err(BookingError::Conflict(format!(
            "{waiting} people are on the waitlist for this; freed seats and tickets go to them first. Join the waitlist instead"
        )));
    }
    Ok(())
}
