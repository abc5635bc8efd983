//! Organizer insights: what an event sold, refunded and checked in, per
//! calendar day in the viewer's time zone, read from rollups the database
//! keeps in the sales' own transactions (migration `event_stats`).
//!
//! - Counts and money come from `event_stats`, summed; inventory (sold,
//!   held, available) and the waitlist are read live.
//! - Money is integer minor units in the event's currency. Totals over
//!   several events are given per currency, never added across them.
//! - [`rebuild`] recomputes the rollups from the raw rows; [`fold`] merges
//!   the per-connection shards of closed slots (a scheduled job).

mod event;
pub mod exports;
mod overview;
mod rebuild;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::auth::Invalid;
use crate::jobs::{Job, queues};

pub use event::{EventStats, Inventory, Revenue, Tickets, WaitlistCounts, event_stats};
pub use overview::{EventRank, Overview, TagRank, Totals, overview};
pub use rebuild::{FOLD_AFTER, fold, rebuild};

/// A calendar's time zone: an IANA name such as `Europe/Paris`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(chrono_tz::Tz);

impl Zone {
    /// `name` if it is an IANA time zone; else a 422 naming `tz`.
    pub fn parse(name: Option<&str>) -> Result<Self, Invalid> {
        match name.map(str::trim) {
            None | Some("") => Ok(Self(chrono_tz::UTC)),
            Some(name) => name.parse().map(Self).map_err(|_| {
                Invalid::new("tz", "must be an IANA time zone name, e.g. Europe/Paris")
            }),
        }
    }

    /// The canonical name, as PostgreSQL knows it.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Today's date here.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now().with_timezone(&self.0).date_naive()
    }
}

/// Longest overview range, in days.
pub const MAX_RANGE_DAYS: i64 = 731;

/// Calendar days `from..=to` in a zone.
#[derive(Debug, Clone, Copy)]
pub struct Days {
    /// First day.
    pub from: NaiveDate,
    /// Last day (included).
    pub to: NaiveDate,
    /// Their zone.
    pub zone: Zone,
}

impl Days {
    /// `from..=to`; by default the 30 days up to today. A reversed or
    /// over-long range, or a day outside 1900-9999, is a 422.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        zone: Zone,
    ) -> Result<Self, Invalid> {
        // chrono reaches years PostgreSQL's timestamps do not.
        let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date");
        let last = NaiveDate::from_ymd_opt(9999, 12, 30).expect("a date");
        let within = |day: NaiveDate| (first..=last).contains(&day);
        let to = to.unwrap_or_else(|| zone.today());
        if !within(to) {
            return Err(Invalid::new(
                "to",
                "must be between 1900-01-01 and 9999-12-30",
            ));
        }
        let from = match from {
            Some(from) => from,
            None => to.checked_sub_days(chrono::Days::new(29)).unwrap_or(first),
        };
        if !within(from) {
            return Err(Invalid::new(
                "from",
                "must be between 1900-01-01 and 9999-12-30",
            ));
        }
        if from > to {
            return Err(Invalid::new("from", "must not be after `to`"));
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(Invalid::new(
                "to",
                format!("the range is at most {MAX_RANGE_DAYS} days"),
            ));
        }
        Ok(Self { from, to, zone })
    }
}

/// One day of sales, in the viewer's zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySales {
    /// The calendar day.
    pub day: NaiveDate,
    /// Bookings made.
    pub bookings: i64,
    /// Seats and units in them.
    pub tickets: i64,
    /// Their totals.
    pub gross_cents: i64,
    /// Bookings cancelled.
    pub cancellations: i64,
    /// Money given back.
    pub refunded_cents: i64,
}

impl DaySales {
    fn empty(day: NaiveDate) -> Self {
        Self {
            day,
            bookings: 0,
            tickets: 0,
            gross_cents: 0,
            cancellations: 0,
            refunded_cents: 0,
        }
    }
}

/// `days` (sorted, sparse) with every missing day between `first` and
/// `last` filled with zeros, so a chart needs no gap handling.
fn dense(days: Vec<DaySales>, first: NaiveDate, last: NaiveDate) -> Vec<DaySales> {
    let mut filled = Vec::new();
    let mut given = days.into_iter().peekable();
    for day in first.iter_days().take_while(|d| *d <= last) {
        match given.next_if(|d| d.day == day) {
            Some(sales) => filled.push(sales),
            None => filled.push(DaySales::empty(day)),
        }
    }
    filled
}

/// A zone chrono-tz knows but the server's tz database does not (an older
/// one) fails the statement with 22023: the caller's 422, not a 500. So
/// does a day its timestamps cannot hold (22008), should one get past
/// [`Days::new`].
fn zone_error(error: sqlx::Error) -> crate::catalog::CatalogError {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("22023") => vec![Invalid::new(
            "tz",
            "this server's time zone database does not know it",
        )]
        .into(),
        sqlx::Error::Database(db) if db.code().as_deref() == Some("22008") => {
            vec![Invalid::new("from", "a day out of range")].into()
        }
        _ => error.into(),
    }
}

/// `part / whole`, 0 when there is no whole, to 4 decimals. Rates only:
/// money is never a float.
fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
}

/// Folds closed rollup slots' shards into one row (queue `system`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FoldEventStats {}

impl Job for FoldEventStats {
    const KIND: &'static str = "fold_event_stats";
    const QUEUE: &'static str = queues::SYSTEM;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_iana_names_and_utc_by_default() {
        assert_eq!(Zone::parse(None).unwrap().name(), "UTC");
        assert_eq!(
            Zone::parse(Some("Asia/Kathmandu")).unwrap().name(),
            "Asia/Kathmandu"
        );
        for bad in [
            "Mars/Olympus",
            "UTC+3",
            "europe/paris'; --",
            "x".repeat(300).as_str(),
        ] {
            assert_eq!(Zone::parse(Some(bad)).unwrap_err().field, "tz", "{bad}");
        }
    }

    #[test]
    fn ranges_default_to_thirty_days_and_refuse_reversed_ones() {
        let utc = Zone::parse(None).unwrap();
        let days = Days::new(None, None, utc).unwrap();
        assert_eq!((days.to - days.from).num_days(), 29);
        let d = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        assert!(Days::new(d("2026-03-02"), d("2026-03-01"), utc).is_err());
        assert!(Days::new(d("2024-01-01"), d("2026-01-01"), utc).is_err());
        assert!(Days::new(d("2026-03-01"), d("2026-03-01"), utc).is_ok());
        let far = [
            (None, "-262143-01-01"),
            (d("-5000-01-01"), "-5000-01-02"),
            (None, "+262142-12-01"),
        ];
        for (from, to) in far {
            let to = to.parse::<NaiveDate>().ok();
            assert!(
                to.is_some() && Days::new(from, to, utc).is_err(),
                "{from:?}..{to:?}"
            );
        }
    }

    #[test]
    fn series_are_dense_and_rates_rounded() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let mut sale = DaySales::empty(d("2026-03-03"));
        sale.bookings = 2;
        let series = dense(vec![sale.clone()], d("2026-03-01"), d("2026-03-04"));
        assert_eq!(series.len(), 4);
        assert_eq!(series[2], sale);
        assert_eq!(series[0], DaySales::empty(d("2026-03-01")));
        assert_eq!(rate(1, 3), 0.3333);
        assert_eq!(rate(5, 0), 0.0);
    }
}
