//! Recomputing the rollups from the raw rows, and folding their shards.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Slots at least this old are folded: late writers (a transaction open
/// since before the slot closed) are rare by then, and harmless anyway,
/// as every write adds.
pub const FOLD_AFTER: chrono::Duration = chrono::Duration::hours(1);
/// Rows folded per statement, so one run never holds many locks long.
const FOLD_BATCH: i64 = 5_000;

/// Rewrites `event_stats` from holds, bookings, refunds and tickets, and
/// returns the rows written. Sales keep going meanwhile: the table is
/// locked against writers (readers go on) until the rewrite commits, so a
/// sale either committed before it (and is counted from its rows) or adds
/// itself after it.
pub async fn rebuild(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("LOCK TABLE event_stats IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM event_stats")
        .execute(&mut *tx)
        .await?;
    // Each source gives full-width rows of deltas; ticket counts go to the
    // ticket's creation (the live triggers put changes at their time; the
    // sums are the same).
    let written = sqlx::query!(
        "INSERT INTO event_stats (event_id, slot, shard, holds, bookings, tickets_sold, gross_cents,
                                  cancellations, tickets_cancelled, refunded_cents,
                                  tickets_valid, tickets_used, tickets_revoked)
         SELECT event_id, event_stats_slot(at), 0, sum(holds), sum(bookings), sum(tickets_sold),
                sum(gross_cents), sum(cancellations), sum(tickets_cancelled), sum(refunded_cents),
                sum(tickets_valid), sum(tickets_used), sum(tickets_revoked)
         FROM (
           SELECT event_id, created_at AS at, 1 AS holds, 0 AS bookings, 0 AS tickets_sold,
                  0::bigint AS gross_cents, 0 AS cancellations, 0 AS tickets_cancelled,
                  0::bigint AS refunded_cents, 0 AS tickets_valid, 0 AS tickets_used,
                  0 AS tickets_revoked
           FROM holds
           UNION ALL
           SELECT b.event_id, b.created_at, 0, 1, event_stats_booking_units(b.hold_id),
                  b.total_cents, 0, 0, 0, 0, 0, 0
           FROM bookings b
           UNION ALL
           SELECT b.event_id, coalesce(b.cancelled_at, b.created_at), 0, 0, 0, 0, 1, event_stats_booking_units(b.hold_id),
                  0, 0, 0, 0
           FROM bookings b WHERE b.status = 'cancelled'
           UNION ALL
           SELECT b.event_id, coalesce(r.refunded_at, r.created_at), 0, 0, 0, 0, 0, 0, r.amount_cents, 0, 0, 0
           FROM refunds r JOIN bookings b ON b.id = r.booking_id WHERE r.status = 'refunded'
           UNION ALL
           SELECT event_id, created_at, 0, 0, 0, 0, 0, 0, 0, (status = 'valid')::integer,
                  (status = 'used')::integer, (status = 'revoked')::integer
           FROM tickets
         ) deltas
         GROUP BY event_id, event_stats_slot(at)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(written.rows_affected())
}

/// Merges the shards of slots older than `before` into shard 0, a batch
/// at a time; returns the shard rows merged.
pub async fn fold(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut folded = 0;
    loop {
        let moved = sqlx::query_scalar!(
            r#"WITH moved AS (
                 DELETE FROM event_stats
                 WHERE (event_id, slot, shard) IN (
                   SELECT event_id, slot, shard FROM event_stats
                   WHERE slot < $1 AND shard > 0 LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING *
               ), merged AS (
                 INSERT INTO event_stats AS s (event_id, slot, shard, holds, bookings,
                        tickets_sold, gross_cents, cancellations, tickets_cancelled,
                        refunded_cents, tickets_valid, tickets_used, tickets_revoked)
                 SELECT event_id, slot, 0, sum(holds), sum(bookings), sum(tickets_sold),
                        sum(gross_cents), sum(cancellations), sum(tickets_cancelled),
                        sum(refunded_cents), sum(tickets_valid), sum(tickets_used),
                        sum(tickets_revoked)
                 FROM moved GROUP BY event_id, slot
                 ON CONFLICT (event_id, slot, shard) DO UPDATE SET
                   holds = s.holds + EXCLUDED.holds,
                   bookings = s.bookings + EXCLUDED.bookings,
                   tickets_sold = s.tickets_sold + EXCLUDED.tickets_sold,
                   gross_cents = s.gross_cents + EXCLUDED.gross_cents,
                   cancellations = s.cancellations + EXCLUDED.cancellations,
                   tickets_cancelled = s.tickets_cancelled + EXCLUDED.tickets_cancelled,
                   refunded_cents = s.refunded_cents + EXCLUDED.refunded_cents,
                   tickets_valid = s.tickets_valid + EXCLUDED.tickets_valid,
                   tickets_used = s.tickets_used + EXCLUDED.tickets_used,
                   tickets_revoked = s.tickets_revoked + EXCLUDED.tickets_revoked
                 RETURNING 1
               )
               SELECT count(*) AS "moved!" FROM moved"#,
            before,
            FOLD_BATCH,
        )
        .fetch_one(pool)
        .await?;
        folded += moved as u64;
        if moved < FOLD_BATCH {
            return Ok(folded);
        }
    }
}
