//! A person books in a real browser; a second browser sees it live.

use std::time::{Duration, Instant};

use crate::common::browser::Browser;
use crate::common::count;
use crate::setup::Stage;

/// Signs up through the form; lands on the home page signed in.
async fn sign_up(browser: &Browser, name: &str, email: &str) {
    browser.goto("/sign-up").await;
    browser.fill("#f-name", name).await;
    browser.fill("#f-email", email).await;
    browser.fill("#f-password", "correct horse battery").await;
    browser
        .click("form[action='/sign-up'] button[type=submit]")
        .await;
    browser
        .wait_text(
            "header nav",
            &format!("Sign out {name}"),
            Duration::from_secs(10),
        )
        .await;
}

/// Picks `seats` ("A-1") on the event page and holds them; returns when the
/// hold page shows.
async fn hold_seats(browser: &Browser, seats: &[&str]) {
    for seat in seats {
        browser.click(&format!("label[data-seat='{seat}']")).await;
    }
    browser.click("#seat-form button[type=submit]").await;
    browser.find("#countdown").await;
}

#[tokio::test]
async fn a_person_finds_an_event_by_tag_books_two_seats_and_cancels_with_the_refund_shown() {
    let stage = Stage::new().await;
    let browser = Browser::open(&stage.app.base, "person").await;

    sign_up(&browser, "Pat", "pat@example.com").await;
    browser.goto("/events").await;
    browser
        .click("nav.tags a.tag[href='/events?tag=jazz']")
        .await;
    let results = browser
        .wait_text("#results", "tagged #jazz", Duration::from_secs(5))
        .await;
    assert!(results.contains("Late Night Jazz"), "{results}");
    assert!(!results.contains("Brass Matinee"), "{results}");
    browser.shot("events-tagged-jazz").await;

    browser.click_link("Late Night Jazz").await;
    browser.find("#seatmap").await;
    browser.click("label[data-seat='A-1']").await;
    browser.click("label[data-seat='A-2']").await;
    browser.shot("two-seats-picked").await;
    browser.click("#seat-form button[type=submit]").await;

    // The hold page counts down from the hold's length (10 minutes).
    let first = browser.text("#countdown").await;
    assert!(
        first.starts_with("9:5") || first.starts_with("10:00"),
        "{first}"
    );
    browser
        .wait_js(
            &format!("document.querySelector('#countdown').textContent !== '{first}'"),
            Duration::from_secs(3),
        )
        .await;
    browser.shot("hold-countdown").await;

    // A declined card: the refusal in words, next to the field; no booking.
    browser.fill("#f-token", "tok_declined").await;
    browser.click("#pay-form button[type=submit]").await;
    let alert = browser
        .wait_text(".alert", "refused", Duration::from_secs(10))
        .await;
    assert!(
        alert.contains("Your payment was refused: the card was declined."),
        "{alert}"
    );
    assert_eq!(count(&stage.app, "SELECT count(*) FROM bookings").await, 0);
    browser.shot("card-declined").await;

    browser.fill("#f-token", "tok_ok").await;
    browser.click("#pay-form button[type=submit]").await;
    browser
        .wait_text("h1", "Booking MQ-", Duration::from_secs(10))
        .await;
    // Tickets are issued by the worker; the page picks them up by itself.
    browser
        .wait_js(
            "document.querySelectorAll('#tickets img').length === 2 && \
             [...document.querySelectorAll('#tickets img')].every(i => i.complete && i.naturalWidth > 0)",
            Duration::from_secs(20),
        )
        .await;
    browser.shot("two-tickets-with-qr").await;

    // The PDF downloads with the page session.
    let pdf = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = document.querySelector('#tickets a[download]');
             fetch(link.href).then(r => r.arrayBuffer().then(b => done({
                 status: r.status, type: r.headers.get('content-type'),
                 head: String.fromCharCode(...new Uint8Array(b.slice(0, 5))), size: b.byteLength })));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pdf["status"], 200, "{pdf}");
    assert_eq!(pdf["type"], "application/pdf", "{pdf}");
    assert_eq!(pdf["head"], "%PDF-", "{pdf}");
    browser.click("#tickets a[download]").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let downloaded = loop {
        let pdfs: Vec<_> = std::fs::read_dir(browser.downloads())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        // Chromium names the file `.pdf` once it is complete; read it then.
        let complete = pdfs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
            .find_map(|p| std::fs::read(p).ok().filter(|b| !b.is_empty()));
        if let Some(bytes) = complete {
            break bytes;
        }
        assert!(Instant::now() < deadline, "no PDF downloaded: {pdfs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(downloaded.starts_with(b"%PDF-"));

    // Cancel: the refund is shown before confirming (three days out, the
    // default policy gives half of 50.00 back), then on the booking.
    browser.click_link("Cancel this booking").await;
    let quote = browser.text("#quote").await;
    assert!(
        quote.contains("refunds 25.00 EUR of the 50.00 EUR"),
        "{quote}"
    );
    browser.shot("cancel-quote").await;
    browser
        .click("form[action$='/cancel'] button[type=submit]")
        .await;
    let refund = browser
        .wait_text("#refund", "Refund of", Duration::from_secs(10))
        .await;
    assert!(refund.contains("25.00 EUR"), "{refund}");
    assert_eq!(
        count(&stage.app, "SELECT amount_cents::bigint FROM refunds").await,
        2500
    );
    browser.shot("cancelled-with-refund").await;

    browser.assert_no_csp_violations().await;
    let serious = browser.axe().await;
    assert!(serious.is_empty(), "{serious:#?}");
    browser.close().await;
    stage.stop().await;
}

#[tokio::test]
async fn a_seat_booked_in_one_browser_turns_taken_in_another_within_a_second() {
    let stage = Stage::new().await;
    let path = format!("/events/{}", stage.event_id());
    let watcher = Browser::open(&stage.app.base, "live-watcher").await;
    let buyer = Browser::open(&stage.app.base, "live-buyer").await;
    sign_up(&buyer, "Buyer", "buyer@example.com").await;
    watcher.goto(&path).await;
    buyer.goto(&path).await;
    // The watcher's stream is open: its first snapshot has arrived.
    watcher
        .wait_js(
            "document.querySelector('[sse-connect]') && \
             document.querySelector('label[data-seat=\"B-3\"]') && \
             !document.querySelector('label[data-seat=\"B-3\"]').classList.contains('taken')",
            Duration::from_secs(5),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Gone after any reload: proves the page changed in place.
    watcher
        .client
        .execute("window.neverReloaded = true;", vec![])
        .await
        .unwrap();

    hold_seats(&buyer, &["B-3"]).await;
    let held = Instant::now();
    watcher
        .wait_js(
            "window.neverReloaded && \
             document.querySelector('label[data-seat=\"B-3\"]').classList.contains('taken')",
            Duration::from_secs(1),
        )
        .await;
    let seen_after = held.elapsed();
    buyer.fill("#f-token", "tok_ok").await;
    buyer.click("#pay-form button[type=submit]").await;
    buyer
        .wait_text("h1", "Booking MQ-", Duration::from_secs(10))
        .await;
    // Booked, and still taken for the watcher, who never reloaded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    watcher
        .wait_js(
            "window.neverReloaded && \
             document.querySelector('label[data-seat=\"B-3\"]').classList.contains('taken') && \
             document.querySelector('label[data-seat=\"B-3\"] input').disabled",
            Duration::from_secs(1),
        )
        .await;
    watcher.shot("seat-taken-live").await;
    println!("seat shown taken {seen_after:?} after the hold page loaded");
    watcher.assert_no_csp_violations().await;
    buyer.assert_no_csp_violations().await;
    watcher.close().await;
    buyer.close().await;
    stage.stop().await;
}

#[tokio::test]
async fn a_person_picks_and_holds_seats_with_the_keyboard_on_a_phone_sized_screen() {
    let stage = Stage::new().await;
    let browser = Browser::open(&stage.app.base, "phone").await;
    browser.client.set_window_size(390, 844).await.unwrap();
    sign_up(&browser, "Kim", "kim@example.com").await;
    for path in [
        "/events".to_owned(),
        format!("/events/{}", stage.event_id()),
    ] {
        browser.goto(&path).await;
        // Nothing sticks out sideways: the seat map scrolls inside itself.
        browser
            .wait_js(
                "document.documentElement.scrollWidth <= window.innerWidth + 1",
                Duration::from_secs(2),
            )
            .await;
        let serious = browser.axe().await;
        assert!(serious.is_empty(), "{path}: {serious:#?}");
    }
    browser.shot("event-on-a-phone").await;

    // Space ticks a seat, Enter on the button holds it: no mouse.
    let seat = browser.find("label[data-seat='C-2'] input").await;
    browser
        .client
        .execute(
            "arguments[0].focus();",
            vec![serde_json::to_value(&seat).unwrap()],
        )
        .await
        .unwrap();
    seat.send_keys(" ").await.unwrap();
    browser
        .wait_js(
            "document.querySelector(\"label[data-seat='C-2'] input\").checked",
            Duration::from_secs(2),
        )
        .await;
    let hold = browser.find("#seat-form button[type=submit]").await;
    hold.send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    browser.find("#countdown").await;
    browser.shot("hold-on-a-phone").await;
    let serious = browser.axe().await;
    assert!(serious.is_empty(), "hold page: {serious:#?}");
    browser.assert_no_csp_violations().await;
    browser.close().await;
    stage.stop().await;
}
