//! The waitlist over real HTTP with a real worker and SMTP sink: offers
//! are real holds, they expire, pass on, convert into bookings with
//! tickets; bad joins are refused and change nothing.

mod common;

use common::waitlist::*;
use common::*;
use marquee_core::booking::holds::ExpireHolds;
use marquee_core::jobs::{self, Producer};
use reqwest::Method;
use serde_json::json;

fn producer(line: &Line) -> Producer {
    Producer::new(
        line.app.ctx.pool.clone(),
        line.app.ctx.redis(),
        line.app.ctx.settings.redis.key_prefix.clone(),
    )
}

/// Runs the scheduler's hold sweep now, as its tick would.
async fn sweep(line: &Line) {
    let mut tx = line.app.ctx.pool.begin().await.unwrap();
    let job = jobs::enqueue(&mut tx, &ExpireHolds {}).await.unwrap();
    tx.commit().await.unwrap();
    producer(line).dispatch(&[job]).await;
}

async fn event_detail(line: &Line) -> serde_json::Value {
    json_of(
        line.app
            .get(&format!("/api/v1/events/{}", line.event))
            .await,
        200,
    )
    .await
}

#[tokio::test]
async fn an_offer_holds_the_unit_against_strangers_and_freed_units_return_to_sale_once_the_line_is_served()
 {
    let line = sold_out(1, 2).await;
    let fan = &people(&line.app, 1).await[0];
    assert_eq!(line.join_ga(fan, 1).await, 1);
    let detail = event_detail(&line).await;
    assert_eq!(detail["availability"]["waitlist_waiting"], 1);
    let worker = line.worker();
    line.cancel(0).await;
    let offer = line.until_status(fan, "offered").await;
    let stranger = &people(&line.app, 1).await[0];
    let refused = hold_units(&line.app, stranger, &line.event, &line.ga, 1).await;
    problem(refused, 409).await;
    assert_eq!(offer["offer"]["quantity"], 1);
    drain_until_quiet(&line).await;
    assert_eq!(line.mails_to(fan, "Your turn").await, 1);
    // Nobody waits now: the next freed unit is the public's.
    line.cancel(1).await;
    let detail = event_detail(&line).await;
    assert_eq!(detail["availability"]["tickets_available"], 1);
    assert_eq!(detail["availability"]["tickets_held_back"], 0);
    json_of(
        hold_units(&line.app, stranger, &line.event, &line.ga, 1).await,
        201,
    )
    .await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn freed_units_are_held_back_from_the_public_until_offered() {
    let line = sold_out(1, 1).await;
    let fans = line.waiting(1).await;
    // No worker yet: the freed unit waits for the promotion.
    line.cancel(0).await;
    let detail = event_detail(&line).await;
    assert_eq!(detail["availability"]["tickets_available"], 0);
    assert_eq!(detail["availability"]["tickets_held_back"], 1);
    assert_eq!(
        detail["availability"]["seats_available"], 1,
        "other inventory stays on sale"
    );
    let stranger = &people(&line.app, 1).await[0];
    let refused = problem(
        hold_units(&line.app, stranger, &line.event, &line.ga, 1).await,
        409,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("waitlist"),
        "{refused}"
    );
    assert_eq!(
        count(
            &line.app,
            "SELECT count(*) FROM holds WHERE status = 'active'"
        )
        .await,
        0
    );
    let worker = line.worker();
    line.until_status(&fans[0], "offered").await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_seat_freed_in_a_section_people_wait_for_is_offered_and_shown_taken() {
    let line = sold_out(1, 1).await;
    // Sell the one seat too.
    let buyer = &people(&line.app, 1).await[0];
    let seat = seat_ids(&line.app, &line.event).await[0].clone();
    let hold = json_of(
        call(
            &line.app,
            Method::POST,
            &format!("/api/v1/events/{}/holds", line.event),
            Some(buyer),
            Some(json!({"seats": [seat]})),
        )
        .await,
        201,
    )
    .await;
    let booking = checkout(&line.app, buyer, hold["id"].as_str().unwrap(), 201).await;
    let fan = &people(&line.app, 1).await[0];
    let joined = json_of(
        line.join(fan, json!({"quantity": 1, "section_id": line.section}))
            .await,
        201,
    )
    .await;
    assert_eq!(joined["position"], 1);
    let worker = line.worker();
    json_of(
        call(
            &line.app,
            Method::POST,
            &format!("/api/v1/bookings/{booking}/cancel"),
            Some(buyer),
            Some(json!({})),
        )
        .await,
        200,
    )
    .await;
    let offer = line.until_status(fan, "offered").await;
    let map = json_of(
        line.app
            .get(&format!("/api/v1/events/{}/seats", line.event))
            .await,
        200,
    )
    .await;
    assert_eq!(map[0]["available"], false);
    let stranger = &people(&line.app, 1).await[0];
    let taken = call(
        &line.app,
        Method::POST,
        &format!("/api/v1/events/{}/holds", line.event),
        Some(stranger),
        Some(json!({"seats": [seat]})),
    )
    .await;
    problem(taken, 409).await;
    let hold = json_of(
        call(
            &line.app,
            Method::GET,
            &format!(
                "/api/v1/holds/{}",
                offer["offer"]["hold_id"].as_str().unwrap()
            ),
            Some(fan),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(hold["items"][0]["seat_id"], seat.as_str());
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn an_expired_offer_passes_to_the_next_in_line_and_its_person_is_told() {
    let line = sold_out(1, 1).await;
    let fans = line.waiting(2).await;
    let worker = line.worker();
    line.cancel(0).await;
    line.until_status(&fans[0], "offered").await;
    assert_eq!(line.me(&fans[1]).await["position"], 1);
    // The offer's time runs out.
    sqlx::query!("UPDATE holds SET expires_at = now() - interval '1 second' WHERE waitlist_entry_id IS NOT NULL")
        .execute(&line.app.ctx.pool)
        .await
        .unwrap();
    sweep(&line).await;
    line.until_status(&fans[1], "offered").await;
    let first = line.me(&fans[0]).await;
    assert_eq!(first["status"], "expired");
    assert!(first["position"].is_null());
    assert_eq!(
        count(
            &line.app,
            "SELECT count(*) FROM holds WHERE status = 'expired'"
        )
        .await,
        1
    );
    drain_until_quiet(&line).await;
    assert_eq!(line.mails_to(&fans[0], "has expired").await, 1);
    assert_eq!(line.mails_to(&fans[1], "Your turn").await, 1);
    worker.stop().await.unwrap();
}

/// Waits until the ledger has nothing left to run.
async fn drain_until_quiet(line: &Line) {
    marquee_worker::testing::wait_until_drained(&line.app.ctx, std::time::Duration::from_secs(20))
        .await;
}

#[tokio::test]
async fn checking_out_an_offer_converts_the_entry_and_tickets_follow_and_nobody_else_can() {
    let line = sold_out(1, 1).await;
    let fan = &people(&line.app, 1).await[0];
    line.join_ga(fan, 1).await;
    let worker = line.worker();
    line.cancel(0).await;
    let offer = line.until_status(fan, "offered").await;
    let hold = offer["offer"]["hold_id"].as_str().unwrap().to_owned();
    let stranger = &people(&line.app, 1).await[0];
    checkout(&line.app, stranger, &hold, 404).await;
    let booking = checkout(&line.app, fan, &hold, 201).await;
    assert_eq!(line.me(fan).await["status"], "converted");
    drain_until_quiet(&line).await;
    let booked = json_of(
        call(
            &line.app,
            Method::GET,
            &format!("/api/v1/bookings/{booking}"),
            Some(fan),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(booked["tickets"].as_array().unwrap().len(), 1, "{booked}");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn leaving_or_declining_an_offer_passes_it_on_at_once() {
    let line = sold_out(1, 1).await;
    let fans = line.waiting(3).await;
    let worker = line.worker();
    line.cancel(0).await;
    line.until_status(&fans[0], "offered").await;
    assert_eq!(line.leave(&fans[0]).await.status(), 204);
    assert_eq!(line.me(&fans[0]).await["status"], "left");
    let offer = line.until_status(&fans[1], "offered").await;
    // Declining is releasing the offered hold.
    let hold = offer["offer"]["hold_id"].as_str().unwrap();
    let released = call(
        &line.app,
        Method::DELETE,
        &format!("/api/v1/holds/{hold}"),
        Some(&fans[1]),
        None,
    )
    .await;
    assert_eq!(released.status(), 204);
    assert_eq!(line.me(&fans[1]).await["status"], "declined");
    line.until_status(&fans[2], "offered").await;
    assert_eq!(
        count(
            &line.app,
            "SELECT count(*) FROM holds WHERE status = 'active'"
        )
        .await,
        1
    );
    // Leaving while merely waiting, twice: the second is 404.
    let late = &people(&line.app, 1).await[0];
    line.join_ga(late, 1).await;
    assert_eq!(line.leave(late).await.status(), 204);
    problem(line.leave(late).await, 404).await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn bad_joins_are_refused_and_change_nothing() {
    let line = sold_out(1, 1).await;
    let fan = &people(&line.app, 1).await[0];
    // The seat is free: hold it instead.
    let free = line
        .join(fan, json!({"quantity": 1, "section_id": line.section}))
        .await;
    assert!(
        problem(free, 409).await["detail"]
            .as_str()
            .unwrap()
            .contains("hold")
    );
    let anything = line.join(fan, json!({"quantity": 1})).await;
    problem(anything, 409).await;
    for body in [
        json!({"quantity": 0, "ticket_type_id": line.ga}),
        json!({"quantity": 11, "ticket_type_id": line.ga}),
        json!({"quantity": 1, "ticket_type_id": line.ga, "section_id": line.section}),
        json!({"quantity": 1, "ticket_type_id": uuid::Uuid::now_v7()}),
        json!({"quantity": 1, "section_id": uuid::Uuid::now_v7()}),
    ] {
        problem(line.join(fan, body.clone()).await, 422).await;
    }
    assert_eq!(
        count(&line.app, "SELECT count(*) FROM waitlist_entries").await,
        0
    );
    line.join_ga(fan, 1).await;
    problem(
        line.join(fan, json!({"quantity": 1, "ticket_type_id": line.ga}))
            .await,
        409,
    )
    .await;
    assert_eq!(
        count(&line.app, "SELECT count(*) FROM waitlist_entries").await,
        1
    );
    // Someone waits for GA, but the seat is still the public's: asking for
    // "anything" can be held now, so it is no way to jump the queue.
    let anyone = &people(&line.app, 1).await[0];
    problem(line.join(anyone, json!({"quantity": 1})).await, 409).await;
    assert_eq!(
        count(&line.app, "SELECT count(*) FROM waitlist_entries").await,
        1
    );
    // Another person's entry is not theirs to see; the line is the organizer's.
    let other = &people(&line.app, 1).await[0];
    let path = format!("/api/v1/events/{}/waitlist/me", line.event);
    problem(
        call(&line.app, Method::GET, &path, Some(other), None).await,
        404,
    )
    .await;
    let list = format!("/api/v1/events/{}/waitlist", line.event);
    problem(
        call(&line.app, Method::GET, &list, Some(other), None).await,
        403,
    )
    .await;
    let bob = organizer(&line.app, "bob@example.com").await;
    problem(
        call(&line.app, Method::GET, &list, Some(&bob), None).await,
        404,
    )
    .await;
    problem(
        call(
            &line.app,
            Method::POST,
            &format!("{list}/promote"),
            Some(&bob),
            None,
        )
        .await,
        404,
    )
    .await;
    let page = json_of(
        call(&line.app, Method::GET, &list, Some(&line.alice), None).await,
        200,
    )
    .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"][0]["position"].as_i64()
        ),
        (Some(1), Some(1))
    );
    problem(
        call(
            &line.app,
            Method::GET,
            &format!("{list}?status=bogus"),
            Some(&line.alice),
            None,
        )
        .await,
        422,
    )
    .await;
    // A draft event, and an unknown one.
    let draft = json_of(
        call(
            &line.app,
            Method::POST,
            "/api/v1/events",
            Some(&line.alice),
            Some(json!({
        "title": "Draft", "currency": "EUR",
        "starts_at": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339(),
        "ticket_types": [{"name": "GA", "price_cents": 100, "capacity": 1}]})),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/api/v1/events/{}/waitlist", draft["id"].as_str().unwrap());
    problem(
        call(
            &line.app,
            Method::POST,
            &path,
            Some(fan),
            Some(json!({"quantity": 1})),
        )
        .await,
        409,
    )
    .await;
    let path = format!("/api/v1/events/{}/waitlist", uuid::Uuid::now_v7());
    problem(
        call(
            &line.app,
            Method::POST,
            &path,
            Some(fan),
            Some(json!({"quantity": 1})),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        count(&line.app, "SELECT count(*) FROM waitlist_entries").await,
        1
    );
}

#[tokio::test]
async fn raising_capacity_offers_the_new_units_to_the_line_first_and_never_goes_below_sold() {
    let line = sold_out(1, 2).await;
    let fans = line.waiting(3).await;
    let path = format!("/api/v1/events/{}/ticket-types/{}", line.event, line.ga);
    problem(
        call(
            &line.app,
            Method::PATCH,
            &path,
            Some(&line.alice),
            Some(json!({"capacity": 1})),
        )
        .await,
        409,
    )
    .await;
    problem(
        call(
            &line.app,
            Method::PATCH,
            &path,
            Some(&line.alice),
            Some(json!({"capacity": 0})),
        )
        .await,
        422,
    )
    .await;
    let bob = organizer(&line.app, "bob@example.com").await;
    problem(
        call(
            &line.app,
            Method::PATCH,
            &path,
            Some(&bob),
            Some(json!({"capacity": 9})),
        )
        .await,
        404,
    )
    .await;
    let worker = line.worker();
    let event = json_of(
        call(
            &line.app,
            Method::PATCH,
            &path,
            Some(&line.alice),
            Some(json!({"capacity": 4})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(event["ticket_types"][0]["capacity"], 4);
    assert_eq!(line.offered(2).await, vec![1, 2]);
    assert_eq!(line.me(&fans[2]).await["position"], 1);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_partial_offer_gives_what_is_free_and_nobody_behind_jumps_ahead() {
    let line = sold_out(1, 3).await;
    let fans = people(&line.app, 2).await;
    line.join_ga(&fans[0], 3).await;
    line.join_ga(&fans[1], 1).await;
    let worker = line.worker();
    line.cancel(0).await;
    let offer = line.until_status(&fans[0], "offered").await;
    assert_eq!(offer["offer"]["quantity"], 1);
    assert_eq!(offer["quantity"], 3);
    line.cancel(1).await;
    let second = line.until_status(&fans[1], "offered").await;
    assert_eq!(second["offer"]["quantity"], 1);
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn cancelling_the_event_closes_the_line_releases_offers_and_tells_everyone_once() {
    let line = sold_out(1, 1).await;
    let fans = line.waiting(3).await;
    let worker = line.worker();
    line.cancel(0).await;
    line.until_status(&fans[0], "offered").await;
    let path = format!("/api/v1/events/{}/cancel", line.event);
    json_of(
        call(&line.app, Method::POST, &path, Some(&line.alice), None).await,
        200,
    )
    .await;
    for fan in &fans {
        line.until_status(fan, "closed").await;
    }
    drain_until_quiet(&line).await;
    for fan in &fans {
        assert_eq!(line.mails_to(fan, "is cancelled").await, 1);
    }
    assert_eq!(
        count(
            &line.app,
            "SELECT count(*) FROM holds WHERE status = 'active'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&line.app, "SELECT sum(held) FROM ticket_types").await,
        0
    );
    let join = line
        .join(
            &people(&line.app, 1).await[0],
            json!({"quantity": 1, "ticket_type_id": line.ga}),
        )
        .await;
    problem(join, 409).await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn completing_the_event_ends_the_line_quietly_and_no_more_promotions_are_queued() {
    let line = sold_out(1, 1).await;
    let fan = &people(&line.app, 1).await[0];
    line.join_ga(fan, 1).await;
    let path = format!("/api/v1/events/{}/complete", line.event);
    json_of(
        call(&line.app, Method::POST, &path, Some(&line.alice), None).await,
        200,
    )
    .await;
    assert_eq!(line.me(fan).await["status"], "closed");
    let nudged = marquee_core::waitlist::promote_waiting(&line.app.ctx.pool)
        .await
        .unwrap();
    assert!(nudged.is_empty(), "a closed line needs no promotion");
}
