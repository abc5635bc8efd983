//! Revoking tickets: on a booking's cancel, an event's cancel or a reissue,
//! in the same transaction as the change that causes it.

use sqlx::PgConnection;
use uuid::Uuid;

/// Locks the booking's live tickets and counts those already used. A
/// check-in racing a cancel either committed first (and is counted) or
/// waits, then finds its ticket revoked.
pub async fn lock_booking(conn: &mut PgConnection, booking: Uuid) -> Result<usize, sqlx::Error> {
    let statuses = sqlx::query_scalar!(
        "SELECT status FROM tickets WHERE booking_id = $1 AND replaced_by IS NULL
         ORDER BY id FOR UPDATE",
        booking,
    )
    .fetch_all(conn)
    .await?;
    Ok(statuses.iter().filter(|s| *s == "used").count())
}

/// Which tickets to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Revoke {
    /// Every valid ticket of a booking.
    Booking(Uuid),
    /// Every valid ticket of an event.
    Event(Uuid),
    /// One ticket (reissued).
    Ticket(Uuid),
}

/// Revokes the valid tickets `which` names, numbering each in its event's
/// revocation cursor; returns how many. Used tickets stay used: someone
/// came in with them.
pub async fn revoke(
    conn: &mut PgConnection,
    which: Revoke,
    reason: &str,
) -> Result<usize, sqlx::Error> {
    // Lock first, so a check-in racing this either committed (`used`, not
    // revoked) or waits and then finds the ticket revoked. One statement
    // per selector, each on its own index.
    let targets: Vec<(Uuid, Uuid)> = match which {
        Revoke::Booking(id) => sqlx::query!(
            "SELECT id, event_id FROM tickets
             WHERE booking_id = $1 AND replaced_by IS NULL AND status = 'valid'
             ORDER BY id FOR UPDATE",
            id,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.event_id))
        .collect(),
        Revoke::Event(id) => sqlx::query!(
            "SELECT id, event_id FROM tickets WHERE event_id = $1 AND status = 'valid'
             ORDER BY id FOR UPDATE",
            id,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.event_id))
        .collect(),
        Revoke::Ticket(id) => sqlx::query!(
            "SELECT id, event_id FROM tickets WHERE id = $1 AND status = 'valid' FOR UPDATE",
            id,
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.event_id))
        .collect(),
    };
    let Some(&(_, event)) = targets.first() else {
        return Ok(0);
    };
    // Every selector names tickets of one event.
    let ids: Vec<Uuid> = targets.iter().map(|t| t.0).collect();
    let count = ids.len() as i64;
    // The cursor row stays locked until commit: numbers become visible in
    // the order they were given out.
    let last = sqlx::query_scalar!(
        "INSERT INTO ticket_revocation_cursors (event_id, last_seq) VALUES ($1, $2)
         ON CONFLICT (event_id) DO UPDATE SET last_seq = ticket_revocation_cursors.last_seq + $2
         RETURNING last_seq",
        event,
        count,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE tickets t SET status = 'revoked', revoked_at = now(), revoke_reason = $3,
                revoked_seq = $2 + u.n
         FROM UNNEST($1::uuid[]) WITH ORDINALITY AS u(id, n)
         WHERE t.id = u.id",
        &ids,
        last - count,
        reason,
    )
    .execute(conn)
    .await?;
    Ok(ids.len())
}
