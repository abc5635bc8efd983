//! Releasing holds past their time: seats back to available, units back to
//! their ticket type; an expired offer's entry becomes `expired` and the
//! line moves on. Always in a transaction of its own that holds no
//! other inventory locks: the scheduler's sweep, a hold that found too few
//! units (`sweep_event`), and an owner's release.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::jobs::Enqueued;
use crate::waitlist;

/// The scheduler's sweep as a job (queue `system`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExpireHolds {}

impl crate::jobs::Job for ExpireHolds {
    const KIND: &'static str = "expire_holds";
    const QUEUE: &'static str = crate::jobs::queues::SYSTEM;
}

/// What a sweep did.
#[derive(Debug, Clone, Default)]
pub struct Swept {
    /// Holds released.
    pub released: u64,
    /// Waitlist promotions and expiry emails, to dispatch after the commit
    /// (the relay pushes them otherwise).
    pub jobs: Vec<Enqueued>,
    /// The events whose holds were released.
    pub events: Vec<Uuid>,
}

/// The sweep: releases every expired hold, in its own transaction.
pub async fn sweep(pool: &PgPool) -> Result<Swept, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let swept = expire(&mut tx, None).await?;
    tx.commit().await?;
    Ok(swept)
}

/// Releases one event's expired holds, in its own transaction.
pub async fn sweep_event(pool: &PgPool, event: Uuid) -> Result<Swept, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let swept = expire(&mut tx, Some(event)).await?;
    tx.commit().await?;
    Ok(swept)
}

/// Releases holds past their time (all events, or one). Each hold is
/// released once, however many sweeps run at once.
async fn expire(conn: &mut PgConnection, event: Option<Uuid>) -> Result<Swept, sqlx::Error> {
    let expired = sqlx::query!(
        // Holds someone is checking out or releasing right now are skipped,
        // never waited for: no lock cycle with a checkout, and the sweep
        // never queues behind a payment provider. Two sweeps take disjoint
        // sets of holds.
        "UPDATE holds SET status = 'expired', updated_at = now()
         WHERE id IN (SELECT id FROM holds
                      WHERE status = 'active' AND expires_at <= now()
                        AND ($1::uuid IS NULL OR event_id = $1)
                      ORDER BY id FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id",
        event,
    )
    .fetch_all(&mut *conn)
    .await?;
    let holds: Vec<Uuid> = expired.iter().map(|h| h.id).collect();
    let mut jobs = waitlist::offers_ended(conn, &holds, waitlist::Ended::Expired).await?;
    give_back(conn, &holds).await?;
    let mut events: Vec<Uuid> = expired.iter().map(|h| h.event_id).collect();
    events.sort();
    events.dedup();
    for event in &events {
        jobs.extend(waitlist::inventory_freed(conn, *event).await?);
    }
    Ok(Swept {
        released: holds.len() as u64,
        jobs,
        events,
    })
}

/// Returns the inventory of `holds` (already marked expired or released).
/// Seats are locked by (event, seat) and then ticket types by id, the order
/// claims and checkouts lock in, so giving back and claiming may wait for
/// each other but never in a cycle. A seat that a claim took from an
/// expired hold meanwhile is no longer that hold's and stays with the claim.
pub(crate) async fn give_back(conn: &mut PgConnection, holds: &[Uuid]) -> Result<(), sqlx::Error> {
    if holds.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "WITH mine AS MATERIALIZED (
             SELECT event_id, seat_id FROM event_seats
             WHERE hold_id = ANY($1) AND status = 'held'
             ORDER BY event_id, seat_id
             FOR UPDATE)
         UPDATE event_seats s SET status = 'available', hold_id = NULL, held_until = NULL
         FROM mine m WHERE s.event_id = m.event_id AND s.seat_id = m.seat_id",
        holds,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "WITH units AS (
             SELECT ticket_type_id, sum(quantity)::int AS quantity FROM hold_items
             WHERE hold_id = ANY($1) AND ticket_type_id IS NOT NULL
             GROUP BY ticket_type_id),
         locked AS MATERIALIZED (
             SELECT id FROM ticket_types WHERE id IN (SELECT ticket_type_id FROM units)
             ORDER BY id
             FOR UPDATE)
         UPDATE ticket_types t SET held = t.held - u.quantity
         FROM units u JOIN locked l ON l.id = u.ticket_type_id
         WHERE t.id = u.ticket_type_id",
        holds,
    )
    .execute(conn)
    .await?;
    Ok(())
}
