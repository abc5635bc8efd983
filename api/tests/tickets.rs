//! Tickets over real HTTP with a real worker and SMTP sink: issuing once,
//! the email with its PDFs, downloads that decode, offline verification,
//! reissue, and who may see what.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::tickets::*;
use common::*;
use marquee_core::auth::Role;
use marquee_core::jobs::{self, Producer};
use marquee_core::tickets::IssueTickets;
use reqwest::Method;
use serde_json::Value;

/// The tickets emails the sink received, quoted-printable soft breaks
/// undone so links read whole.
fn ticket_mails(s: &Sold) -> Vec<String> {
    s.sink
        .messages()
        .into_iter()
        .filter(|m| m.contains("Subject: Your tickets"))
        .map(|m| {
            m.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        })
        .collect()
}

#[tokio::test]
async fn two_seats_and_one_unit_make_three_tickets_mailed_once_even_when_the_job_runs_again() {
    let s = sold(true).await;
    let tickets = s.booking_tickets().await;
    assert_eq!(tickets.len(), 3, "{tickets:?}");
    assert!(
        tickets
            .iter()
            .all(|t| t["status"] == "valid" && t["issued"] == true)
    );
    let labels: Vec<&str> = tickets
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels.iter().filter(|l| l.starts_with("Floor A-")).count(),
        2,
        "{labels:?}"
    );
    assert!(labels.contains(&"GA"), "{labels:?}");

    let mails = ticket_mails(&s);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(
        mail.matches("Content-Type: application/pdf").count(),
        3,
        "{mail}"
    );
    assert_eq!(mail.matches("Content-Type: image/png").count(), 3);
    for ticket in &tickets {
        let id = ticket["id"].as_str().unwrap();
        assert!(
            mail.contains(&format!("/api/v1/tickets/{id}")),
            "a link to {id}"
        );
        assert!(
            mail.contains(&format!("cid:qr-{id}")),
            "the QR of {id} inline"
        );
    }
    let message_id = header(mail, "Message-ID");

    // The job again, as a redelivery or an operator's retry would run it.
    let booking: uuid::Uuid = s.booking["id"].as_str().unwrap().parse().unwrap();
    let mut tx = s.app.ctx.pool.begin().await.unwrap();
    let job = jobs::enqueue(
        &mut tx,
        &IssueTickets {
            booking_id: booking,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Producer::new(
        s.app.ctx.pool.clone(),
        s.app.ctx.redis(),
        s.app.ctx.settings.redis.key_prefix.clone(),
    )
    .dispatch(&[job])
    .await;
    s.drain().await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM tickets").await, 3);
    assert_eq!(count(&s.app, "SELECT count(*) FROM ticket_files").await, 3);
    assert_eq!(ticket_mails(&s).len(), 1, "no second email");
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM jobs WHERE kind = 'send_tickets'"
        )
        .await,
        1,
        "one mail job per booking, ever"
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM jobs WHERE kind = 'issue_tickets' AND status = 'succeeded'"
        )
        .await,
        2
    );
    // Deterministic: derived from the booking, so any resend is recognisably
    // the same message.
    let expected = uuid::Uuid::new_v5(&booking, b"tickets-email");
    assert!(
        message_id.starts_with(&format!("<{expected}@")),
        "{message_id}"
    );
}

fn header(mail: &str, name: &str) -> String {
    mail.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_pdf_has_the_reference_and_the_png_decodes_back_to_the_token() {
    let s = sold(true).await;
    let reference = s.booking["reference"].as_str().unwrap().to_owned();
    for listed in s.booking_tickets().await {
        let id = listed["id"].as_str().unwrap();
        let ticket = s.ticket(id).await;
        let token = ticket["qr_token"].as_str().unwrap();

        let pdf = download(
            &s,
            &s.fan,
            &format!("/api/v1/tickets/{id}/pdf"),
            "application/pdf",
        )
        .await;
        let document = lopdf::Document::load_mem(&pdf).expect("the PDF parses");
        assert_eq!(document.get_pages().len(), 1, "one page per ticket");
        let text = document.extract_text(&[1]).unwrap();
        assert!(text.contains(&reference), "{text}");
        assert!(text.contains("Zoë"), "{text}");

        let png = download(
            &s,
            &s.fan,
            &format!("/api/v1/tickets/{id}/qr.png"),
            "image/png",
        )
        .await;
        assert_eq!(decode_qr(&png), token);

        let svg = download(
            &s,
            &s.fan,
            &format!("/api/v1/tickets/{id}/qr.svg"),
            "image/svg+xml",
        )
        .await;
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    }
}

async fn download(s: &Sold, token: &str, path: &str, content_type: &str) -> Vec<u8> {
    let response = call(&s.app, Method::GET, path, Some(token), None).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], content_type);
    response.bytes().await.unwrap().to_vec()
}

fn decode_qr(png: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = frame.line_size / width;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        pixels[y * frame.line_size + x * channels]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn a_door_device_verifies_the_token_offline_with_the_public_key_alone() {
    let s = sold(true).await;
    let id = s.booking_tickets().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = s.ticket(&id).await["qr_token"].as_str().unwrap().to_owned();
    let keys = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{}/checkin-keys", s.event),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(keys["algorithm"], "Ed25519");
    let key = &keys["keys"][0];
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();

    // What a device does, from the documented format and nothing of ours.
    let verify = |token: &str| -> Option<Vec<u8>> {
        let (payload, signature) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).ok()?.try_into().ok()?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public).ok()?;
        let message = [b"marquee-ticket-v1".as_slice(), &payload].concat();
        key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .ok()
            .map(|_| payload)
    };
    let payload = verify(&token).expect("the token verifies with the listed key");
    assert_eq!(payload[0], 1, "format version");
    assert_eq!(
        uuid::Uuid::from_slice(&payload[1..17]).unwrap().to_string(),
        id
    );
    assert_eq!(
        uuid::Uuid::from_slice(&payload[17..33])
            .unwrap()
            .to_string(),
        s.event
    );
    assert_eq!(
        i64::from(u16::from_be_bytes([payload[33], payload[34]])),
        key["key_id"].as_i64().unwrap()
    );
    let label_len = payload[43] as usize;
    assert!(
        std::str::from_utf8(&payload[44..44 + label_len])
            .unwrap()
            .starts_with("Floor A-")
    );

    // One flipped byte anywhere in the signed payload or the signature fails.
    let (p, sig) = token.split_once('.').unwrap();
    let mut raw_payload = URL_SAFE_NO_PAD.decode(p).unwrap();
    raw_payload[5] ^= 0x01;
    let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(&raw_payload));
    assert!(verify(&forged).is_none());
    let mut raw_sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    raw_sig[10] ^= 0x80;
    let forged_sig = format!("{p}.{}", URL_SAFE_NO_PAD.encode(&raw_sig));
    assert!(verify(&forged_sig).is_none());

    // The server agrees: a forged token is `unknown`, and changes nothing.
    let (status, body) = s.scan(&s.event, serde_json::json!({"code": forged})).await;
    assert_eq!((status, outcome(&body)), (404, "unknown"), "{body}");
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        0
    );
}

#[tokio::test]
async fn downloads_answer_409_with_retry_after_until_the_worker_has_rendered_them() {
    let s = sold(false).await;
    // Issue without rendering: what a worker that died mid-job leaves.
    let booking: uuid::Uuid = s.booking["id"].as_str().unwrap().parse().unwrap();
    marquee_core::tickets::issue(&s.app.ctx.pool, booking)
        .await
        .unwrap();
    let tickets = s.booking_tickets().await;
    assert_eq!(tickets.len(), 3);
    let id = tickets[0]["id"].as_str().unwrap();
    assert_eq!(tickets[0]["issued"], false);
    for file in ["qr.png", "qr.svg", "pdf"] {
        let response = call(
            &s.app,
            Method::GET,
            &format!("/api/v1/tickets/{id}/{file}"),
            Some(&s.fan),
            None,
        )
        .await;
        assert!(response.headers().contains_key("retry-after"), "{file}");
        problem(response, 409).await;
    }
    s.drain().await;
    let response = call(
        &s.app,
        Method::GET,
        &format!("/api/v1/tickets/{id}/pdf"),
        Some(&s.fan),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn only_the_holder_the_organizer_and_admins_see_a_ticket() {
    let s = sold(true).await;
    let id = s.booking_tickets().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = with_role(&s.app, "stranger@example.com", Role::User).await;
    let other_organizer = with_role(&s.app, "bob@example.com", Role::Organizer).await;
    let admin = admin_token(&s.app).await;
    for path in ["", "/qr.png", "/qr.svg", "/pdf"] {
        let path = format!("/api/v1/tickets/{id}{path}");
        for token in [&stranger, &other_organizer] {
            problem(
                call(&s.app, Method::GET, &path, Some(token), None).await,
                404,
            )
            .await;
        }
        for token in [&s.fan, &s.alice, &admin] {
            assert_eq!(
                call(&s.app, Method::GET, &path, Some(token), None)
                    .await
                    .status(),
                200,
                "{path}"
            );
        }
    }
    // Nobody but the holder reissues; the stranger's attempt changes nothing.
    let reissue = format!("/api/v1/tickets/{id}/reissue");
    for token in [&stranger, &s.alice] {
        problem(
            call(&s.app, Method::POST, &reissue, Some(token), None).await,
            404,
        )
        .await;
    }
    assert_eq!(count(&s.app, "SELECT count(*) FROM tickets").await, 3);
    // Lists: the holder's own tickets only.
    let mine: Value = json_of(
        call(&s.app, Method::GET, "/api/v1/tickets", Some(&s.fan), None).await,
        200,
    )
    .await;
    assert_eq!(mine["total"], 3);
    let theirs: Value = json_of(
        call(
            &s.app,
            Method::GET,
            "/api/v1/tickets",
            Some(&stranger),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(theirs["total"], 0);
}

#[tokio::test]
async fn a_reissued_tickets_old_code_is_revoked_and_the_new_one_admits() {
    let s = sold(true).await;
    let id = s.booking_tickets().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = s.ticket(&id).await;
    let new = json_of(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/tickets/{id}/reissue"),
            Some(&s.fan),
            None,
        )
        .await,
        201,
    )
    .await;
    assert_ne!(new["id"], old["id"]);
    assert_ne!(new["code"], old["code"]);
    assert_eq!(new["label"], old["label"]);
    let old_now = s.ticket(&id).await;
    assert_eq!(old_now["status"], "revoked");
    assert_eq!(old_now["replaced_by"], new["id"]);
    // The booking lists the replacement in the old one's place.
    let listed: Vec<Value> = s.booking_tickets().await;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().any(|t| t["id"] == new["id"]));

    for code in [&old["qr_token"], &old["code"]] {
        let (status, body) = s.scan(&s.event, serde_json::json!({"code": code})).await;
        assert_eq!((status, outcome(&body)), (410, "revoked"), "{body}");
    }
    let (status, body) = s
        .scan(&s.event, serde_json::json!({"code": new["qr_token"]}))
        .await;
    assert_eq!((status, outcome(&body)), (201, "ok"), "{body}");
    // Reissuing twice: the old one is no longer valid.
    problem(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/tickets/{id}/reissue"),
            Some(&s.fan),
            None,
        )
        .await,
        409,
    )
    .await;
    // The replacement gets rendered by the job the reissue queued.
    s.drain().await;
    let new_id = new["id"].as_str().unwrap();
    assert_eq!(s.ticket(new_id).await["issued"], true);
    let revoked = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{}/revocations", s.event),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(revoked["revocations"][0]["ticket_id"], old["id"]);
    assert_eq!(revoked["revocations"][0]["reason"], "reissued");
}

#[tokio::test]
async fn reissues_are_limited_per_person_and_end_with_the_event() {
    let s = sold(true).await;
    let listed = s.booking_tickets().await;
    let mut id = listed[0]["id"].as_str().unwrap().to_owned();
    for _ in 0..10 {
        let path = format!("/api/v1/tickets/{id}/reissue");
        let new = json_of(
            call(&s.app, Method::POST, &path, Some(&s.fan), None).await,
            201,
        )
        .await;
        id = new["id"].as_str().unwrap().to_owned();
    }
    let path = format!("/api/v1/tickets/{id}/reissue");
    let refused = call(&s.app, Method::POST, &path, Some(&s.fan), None).await;
    assert!(refused.headers().contains_key("retry-after"));
    problem(refused, 429).await;
    assert_eq!(s.ticket(&id).await["status"], "valid");
    assert_eq!(count(&s.app, "SELECT count(*) FROM tickets").await, 13);

    // Once the event is over, its tickets are not reissued.
    let (_, buyer) = buy(&s.app, &s.event, "late@example.com", 1).await;
    s.drain().await;
    let theirs: Value = json_of(
        call(&s.app, Method::GET, "/api/v1/tickets", Some(&buyer), None).await,
        200,
    )
    .await;
    let other = theirs["items"][0]["id"].as_str().unwrap().to_owned();
    let complete = format!("/api/v1/events/{}/complete", s.event);
    json_of(
        call(&s.app, Method::POST, &complete, Some(&s.alice), None).await,
        200,
    )
    .await;
    let path = format!("/api/v1/tickets/{other}/reissue");
    problem(
        call(&s.app, Method::POST, &path, Some(&buyer), None).await,
        409,
    )
    .await;
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM tickets WHERE status = 'revoked'"
        )
        .await,
        10
    );
}

#[tokio::test]
async fn an_organizer_demoted_to_user_no_longer_reads_their_events_tickets() {
    let s = sold(true).await;
    let id = s.booking_tickets().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(
        call(&s.app, Method::GET, &path, Some(&s.alice), None)
            .await
            .status(),
        200
    );
    let alice = sqlx::query_scalar!("SELECT id FROM users WHERE email = 'alice@example.com'")
        .fetch_one(&s.app.ctx.pool)
        .await
        .unwrap();
    let ctx = &s.app.ctx;
    marquee_core::auth::cache::set_role(
        &ctx.pool,
        &ctx.redis(),
        &ctx.settings.redis.key_prefix,
        alice,
        Role::User,
    )
    .await
    .unwrap();
    problem(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        404,
    )
    .await;
    let booking = format!("/api/v1/bookings/{}", s.booking["id"].as_str().unwrap());
    problem(
        call(&s.app, Method::GET, &booking, Some(&s.alice), None).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_tickets_email_an_older_worker_sent_under_the_job_id_is_not_sent_again() {
    let s = sold(true).await;
    assert_eq!(ticket_mails(&s).len(), 1);
    let booking: uuid::Uuid = s.booking["id"].as_str().unwrap().parse().unwrap();
    let job: uuid::Uuid = sqlx::query_scalar!(
        "SELECT id FROM jobs WHERE kind = 'send_tickets' AND payload->>'booking_id' = $1",
        booking.to_string()
    )
    .fetch_one(&s.app.ctx.pool)
    .await
    .unwrap();
    // The release before keyed the email row by the job's id: as if one of
    // its workers had sent this job's email, and the job then ran again on
    // a new worker (a redelivery during a rolling deploy).
    sqlx::query!(
        "UPDATE emails SET id = $1 WHERE id = $2",
        job,
        marquee_core::tickets::files::email_id(booking)
    )
    .execute(&s.app.ctx.pool)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE jobs SET status = 'dispatched', finished_at = NULL WHERE id = $1",
        job
    )
    .execute(&s.app.ctx.pool)
    .await
    .unwrap();
    Producer::new(
        s.app.ctx.pool.clone(),
        s.app.ctx.redis(),
        s.app.ctx.settings.redis.key_prefix.clone(),
    )
    .push(&[jobs::Push {
        job_id: job,
        task_id: jobs::task_id_for_attempt(job, 2),
        queue: jobs::queues::EMAIL.to_owned(),
        run_at: None,
    }])
    .await
    .unwrap();
    s.drain().await;
    let status = sqlx::query_scalar!("SELECT status FROM jobs WHERE id = $1", job)
        .fetch_one(&s.app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(status, "succeeded", "the job ran again");
    assert_eq!(ticket_mails(&s).len(), 1, "no second email");
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM emails WHERE template = 'tickets_issued'"
        )
        .await,
        1
    );
}
