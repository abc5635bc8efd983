//! Page templates, compiled into the binary from `api/templates/` and
//! parsed once. HTML is auto-escaped. Filters format money by the
//! currency's minor units and times in the venue's zone.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, Value};

macro_rules! pages {
    ($env:ident, $($name:literal),+ $(,)?) => {
        $(
            $env.add_template($name, include_str!(concat!("../../templates/", $name)))
                .expect(concat!("template ", $name, " parses"));
        )+
    };
}

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Printing a missing value is an error (a typo shows in tests); testing
    // one in `if` is not.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    pages!(
        env,
        "layout.html",
        "macros.html",
        "error.html",
        "licenses.html",
        "account/sign_in.html",
        "account/sign_up.html",
        "events/index.html",
        "events/_results.html",
        "events/show.html",
        "events/_availability.html",
        "events/_seats.html",
        "holds/show.html",
        "bookings/index.html",
        "bookings/show.html",
        "bookings/_tickets.html",
        "bookings/cancel.html",
        "tickets/index.html",
        "organizer/home.html",
        "organizer/venue_new.html",
        "organizer/_venue_preview.html",
        "organizer/event_new.html",
        "organizer/event.html",
        "organizer/dashboard.html",
        "organizer/_progress.html",
        "organizer/door.html",
        "organizer/_verdict.html",
        "ops/home.html",
        "ops/_queues.html",
        "ops/jobs.html",
        "ops/job.html",
        "ops/_job_row.html",
        "ops/bulk_done.html",
        "ops/audit.html",
        "ops/history.html",
    );
    env.add_filter("money", money);
    env.add_filter("when", when);
    env.add_filter("day", day);
    env.add_function("asset", |name: &str| super::assets::path(name));
    env
});

/// Renders the page `name` with `context`.
pub fn render(name: &str, context: Value) -> Result<String, minijinja::Error> {
    PAGES.get_template(name)?.render(context)
}

/// `{{ cents | money(currency) }}`: "25.00 EUR", "2500 JPY".
fn money(cents: i64, currency: &str) -> String {
    marquee_core::money::format(cents, currency)
}

/// An RFC 3339 time from a template's context.
fn instant(at: &str) -> Result<DateTime<Utc>, minijinja::Error> {
    DateTime::parse_from_rfc3339(at)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

/// `{{ starts_at | when(time_zone) }}`: "Sat 12 Dec 2026, 19:30 CET".
fn when(at: &str, zone: Option<&str>) -> Result<String, minijinja::Error> {
    let zone: chrono_tz::Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC);
    Ok(instant(at)?
        .with_timezone(&zone)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string())
}

/// `{{ at | day }}`: "12 Dec 2026" (UTC).
fn day(at: &str) -> Result<String, minijinja::Error> {
    Ok(instant(at)?.format("%-d %b %Y").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        assert!(PAGES.templates().count() > 10);
    }

    #[test]
    fn times_show_in_the_venue_zone_and_money_in_minor_units() {
        assert_eq!(
            when("2026-12-12T18:30:00Z", Some("Europe/Paris")).unwrap(),
            "Sat 12 Dec 2026, 19:30 CET"
        );
        assert_eq!(
            when("2026-12-12T18:30:00Z", None).unwrap(),
            "Sat 12 Dec 2026, 18:30 UTC"
        );
        assert_eq!(money(2500, "EUR"), marquee_core::money::format(2500, "EUR"));
    }
}
