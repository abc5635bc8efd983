//! Demo data: the accounts log in, the venues and events are there, one
//! event is sold out, and seeding twice changes nothing.

mod common;

use common::*;
use marquee_api::seed::{self, DEMO_PASSWORD, Seeded};
use marquee_core::auth::Passwords;
use reqwest::Method;
use serde_json::json;

/// A venue and how many seats its sections have.
#[derive(Debug, PartialEq)]
struct VenueSeats {
    name: String,
    seats: i64,
}

#[tokio::test]
async fn seeding_a_fresh_database_gives_a_catalog_to_browse_and_working_logins() {
    let app = TestApp::spawn().await;
    let passwords = Passwords::new(&app.ctx.settings.auth).unwrap();
    assert_eq!(
        seed::run(&app.ctx.pool, &passwords).await.unwrap(),
        Seeded::Created
    );
    assert_eq!(
        seed::run(&app.ctx.pool, &passwords).await.unwrap(),
        Seeded::AlreadyThere
    );

    let seats = sqlx::query_as!(
        VenueSeats,
        r#"SELECT v.name, count(*) AS "seats!" FROM venues v JOIN venue_sections c ON c.venue_id = v.id
         JOIN venue_seats s ON s.section_id = c.id GROUP BY v.name ORDER BY count(*)"#,
    )
    .fetch_all(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!(
        seats,
        vec![
            VenueSeats {
                name: "The Cellar Club".to_owned(),
                seats: 30
            },
            VenueSeats {
                name: "Grand Hall".to_owned(),
                seats: 1000
            },
        ]
    );

    let events = json_of(
        call(&app, Method::GET, "/api/v1/events", None, None).await,
        200,
    )
    .await;
    assert_eq!(events["total"], 4);
    let mut sold_out = Vec::new();
    for event in events["items"].as_array().unwrap() {
        let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
        let detail = json_of(call(&app, Method::GET, &path, None, None).await, 200).await;
        if detail["availability"]["sold_out"] == true {
            sold_out.push(detail["title"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(sold_out, ["Secret Gig"]);

    for (email, _, role) in seed::DEMO_ACCOUNTS {
        let body = json!({"email": email, "password": DEMO_PASSWORD});
        let session = json_of(
            call(&app, Method::POST, "/api/v1/auth/login", None, Some(body)).await,
            200,
        )
        .await;
        assert_eq!(session["user"]["role"], role.as_str());
    }
}

#[test]
fn seeding_is_refused_in_production() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee-api"))
        .arg("seed")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .env("MARQUEE_ENV", "production")
        .env("MARQUEE__JWT__SECRET", "x".repeat(40))
        .env(
            "MARQUEE__DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("production"), "{stderr}");
}
