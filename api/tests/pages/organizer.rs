//! An organizer builds a venue and an event in a real browser, publishes
//! it, and works the door while the dashboard follows live.

use std::time::{Duration, Instant};

use crate::common::browser::Browser;
use crate::common::tickets::buy;
use crate::setup::Stage;

/// Signs in through the form as `email` (password "correct horse").
pub async fn sign_in(browser: &Browser, email: &str, next: &str) {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    browser.goto(&format!("/sign-in?next={next}")).await;
    browser.fill("#f-email", email).await;
    browser.fill("#f-password", "correct horse").await;
    browser
        .click("form[action='/sign-in'] button[type=submit]")
        .await;
    browser
        .wait_text("header nav", "Sign out", Duration::from_secs(10))
        .await;
}

/// Sets a field the way a date picker would.
async fn set_value(browser: &Browser, css: &str, value: &str) {
    browser
        .client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![css.into(), value.into()],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_organizer_builds_an_event_works_the_door_and_the_dashboard_follows_live() {
    let stage = Stage::new().await;
    let browser = Browser::open(&stage.app.base, "organizer").await;
    sign_in(&browser, "alice@example.com", "/organizer").await;
    browser
        .wait_text("h1", "Your events", Duration::from_secs(5))
        .await;
    let serious = browser.axe().await;
    assert!(serious.is_empty(), "organizer home: {serious:#?}");
    browser.shot("organizer-home").await;

    // A venue, with its seat map previewed while typing.
    browser.click_link("New venue").await;
    browser.fill("#f-name", "Riverside Hall").await;
    browser.fill("#f-time_zone", "Europe/Paris").await;
    browser
        .fill("#f-layout", "Stalls: A 4, B 4\nBalcony: C 3")
        .await;
    browser
        .wait_text("#preview", "11 seats", Duration::from_secs(5))
        .await;
    assert_eq!(browser.all("#preview .seat").await.len(), 11);
    browser.shot("venue-preview").await;
    browser.click("#venue-form button[type=submit]").await;

    // The event: priced per section, with general admission too.
    browser.find("#event-form").await;
    browser.fill("#f-title", "River Sessions").await;
    let starts = (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%dT19:30");
    set_value(&browser, "#f-starts_at", &starts.to_string()).await;
    for price in browser.all("input[name^='price_']").await {
        price.send_keys("30.00").await.unwrap();
    }
    browser.fill("#f-ga_name_1", "Standing").await;
    browser.fill("#f-ga_price_1", "12.50").await;
    browser.fill("#f-ga_capacity_1", "50").await;
    browser.fill("#f-tags", "river, acoustic").await;
    browser.click("#event-form button[type=submit]").await;
    browser
        .wait_text("#event-status", "Draft", Duration::from_secs(10))
        .await;
    // Times show in the venue's zone.
    let when = browser.text(".when").await;
    assert!(when.contains("19:30 CE"), "{when}");
    browser.click("form[action$='/publish'] button").await;
    browser
        .wait_text("#event-status", "Published", Duration::from_secs(10))
        .await;
    browser.shot("event-published").await;
    let event_id = browser
        .path()
        .await
        .trim_start_matches("/organizer/events/")
        .to_owned();

    // Someone buys a seat and a standing ticket; the worker issues them.
    let (booking, _) = buy(&stage.app, &event_id, "fan@example.com", 1).await;
    let booking: uuid::Uuid = booking["id"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        let tickets = marquee_core::tickets::read::of_booking(&stage.app.ctx.pool, booking)
            .await
            .unwrap();
        if tickets.len() == 2 {
            break tickets[0].secret.clone();
        }
        assert!(Instant::now() < deadline, "tickets were not issued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The dashboard, in a second browser, watches the door.
    let dashboard = Browser::open(&stage.app.base, "organizer-dashboard").await;
    sign_in(
        &dashboard,
        "alice@example.com",
        &format!("/organizer/events/{event_id}/dashboard"),
    )
    .await;
    dashboard
        .wait_text("#checked-in-count", "0 of 2", Duration::from_secs(5))
        .await;
    dashboard
        .wait_js(
            "document.querySelector('[sse-connect]') !== null",
            Duration::from_secs(5),
        )
        .await;
    dashboard
        .client
        .execute("window.neverReloaded = true;", vec![])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    browser
        .goto(&format!("/organizer/events/{event_id}/door"))
        .await;
    browser.fill("#f-code", &code).await;
    browser.click("#door-form button[type=submit]").await;
    browser
        .wait_text("#verdict", "OK", Duration::from_secs(5))
        .await;
    browser.shot("door-ok").await;
    dashboard
        .wait_js(
            "window.neverReloaded && document.querySelector('#checked-in').value === 1",
            Duration::from_secs(5),
        )
        .await;
    assert!(dashboard.text("#checked-in-count").await.contains("1 of 2"));
    dashboard.shot("dashboard-after-check-in").await;

    browser.fill("#f-code", &code).await;
    browser.click("#door-form button[type=submit]").await;
    let verdict = browser
        .wait_text("#verdict", "Already used", Duration::from_secs(5))
        .await;
    assert!(
        verdict.contains("Door page (Alice)") || verdict.contains("Door page"),
        "{verdict}"
    );
    browser.shot("door-already-used").await;
    let serious = browser.axe().await;
    assert!(serious.is_empty(), "door: {serious:#?}");

    browser.assert_no_csp_violations().await;
    dashboard.assert_no_csp_violations().await;
    browser.close().await;
    dashboard.close().await;
    stage.stop().await;
}
