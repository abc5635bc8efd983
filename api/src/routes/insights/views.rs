//! Response bodies of the analytics endpoints: the core figures as they are.

use chrono::NaiveDate;
use marquee_core::insights::{self as core, DaySales};
use poem_openapi::Object;
use uuid::Uuid;

/// The event's inventory now.
#[derive(Debug, Object)]
pub struct InventoryView {
    /// Seats on sale (not blocked) plus general-admission units.
    pub capacity: i64,
    /// Sold.
    pub sold: i64,
    /// Held by live holds and waitlist offers.
    pub held: i64,
    /// Neither sold nor held.
    pub available: i64,
    /// sold / capacity, 0-1 to 4 decimals.
    pub utilisation: f64,
}

/// Money in one currency, in minor units (never a float).
#[derive(Debug, Object)]
pub struct RevenueView {
    /// ISO 4217.
    pub currency: String,
    /// Every booking's total.
    pub gross_cents: i64,
    /// Refunds paid out.
    pub refunded_cents: i64,
    /// gross - refunded.
    pub net_cents: i64,
}

/// Tickets and the door.
#[derive(Debug, Object)]
pub struct TicketCountsView {
    /// Tickets that admit (valid or already used).
    pub valid: i64,
    /// Of those, checked in.
    pub checked_in: i64,
    /// Revoked (cancelled bookings, reissues).
    pub revoked: i64,
}

/// The waitlist by state.
#[derive(Debug, Object)]
pub struct WaitlistCountsView {
    /// In line.
    pub waiting: i64,
    /// Holding an offer now.
    pub offered: i64,
    /// Took their offer.
    pub converted: i64,
    /// Let their offer run out.
    pub expired: i64,
}

/// One calendar day of sales.
#[derive(Debug, Object)]
pub struct DaySalesView {
    /// The day, in the requested zone.
    pub day: NaiveDate,
    /// Bookings made.
    pub bookings: i64,
    /// Seats and units in them.
    pub tickets: i64,
    /// Their totals.
    pub gross_cents: i64,
    /// Bookings cancelled.
    pub cancellations: i64,
    /// Refunds paid out.
    pub refunded_cents: i64,
}

impl From<DaySales> for DaySalesView {
    fn from(d: DaySales) -> Self {
        Self {
            day: d.day,
            bookings: d.bookings,
            tickets: d.tickets,
            gross_cents: d.gross_cents,
            cancellations: d.cancellations,
            refunded_cents: d.refunded_cents,
        }
    }
}

/// An event's figures.
#[derive(Debug, Object)]
pub struct EventStatsView {
    /// The event.
    pub event_id: Uuid,
    /// Inventory now.
    pub inventory: InventoryView,
    /// Bookings made.
    pub bookings: i64,
    /// Of those, cancelled.
    pub cancellations: i64,
    /// cancellations / bookings, 0-1.
    pub cancel_rate: f64,
    /// Seats and units booked.
    pub tickets_sold: i64,
    /// Of those, in cancelled bookings.
    pub tickets_cancelled: i64,
    /// Money, in the event's currency.
    pub revenue: RevenueView,
    /// Tickets and check-ins.
    pub tickets: TicketCountsView,
    /// The waitlist.
    pub waitlist: WaitlistCountsView,
    /// Holds made (waitlist offers included).
    pub holds: i64,
    /// bookings / holds, 0-1.
    pub hold_conversion: f64,
    /// Per day in `tz`, from the first day with a sale to the last day with
    /// any activity, days without any included as zeros.
    pub sales_per_day: Vec<DaySalesView>,
    /// The zone of the days.
    pub tz: String,
}

impl From<core::EventStats> for EventStatsView {
    fn from(s: core::EventStats) -> Self {
        let (i, r, t, w) = (s.inventory, s.revenue, s.tickets, s.waitlist);
        Self {
            event_id: s.event_id,
            inventory: InventoryView {
                capacity: i.capacity,
                sold: i.sold,
                held: i.held,
                available: i.available,
                utilisation: i.utilisation,
            },
            bookings: s.bookings,
            cancellations: s.cancellations,
            cancel_rate: s.cancel_rate,
            tickets_sold: s.tickets_sold,
            tickets_cancelled: s.tickets_cancelled,
            revenue: RevenueView {
                currency: r.currency,
                gross_cents: r.gross_cents,
                refunded_cents: r.refunded_cents,
                net_cents: r.net_cents,
            },
            tickets: TicketCountsView {
                valid: t.valid,
                checked_in: t.checked_in,
                revoked: t.revoked,
            },
            waitlist: WaitlistCountsView {
                waiting: w.waiting,
                offered: w.offered,
                converted: w.converted,
                expired: w.expired,
            },
            holds: s.holds,
            hold_conversion: s.hold_conversion,
            sales_per_day: s.sales_per_day.into_iter().map(Into::into).collect(),
            tz: s.tz,
        }
    }
}

/// Totals in one currency over the range.
#[derive(Debug, Object)]
pub struct TotalsView {
    /// ISO 4217.
    pub currency: String,
    /// Events with any activity in the range.
    pub events: i64,
    /// Bookings made.
    pub bookings: i64,
    /// Bookings cancelled.
    pub cancellations: i64,
    /// Seats and units in the bookings made.
    pub tickets_sold: i64,
    /// Seats and units in the bookings cancelled.
    pub tickets_cancelled: i64,
    /// Totals of the bookings made.
    pub gross_cents: i64,
    /// Refunds paid out.
    pub refunded_cents: i64,
    /// gross - refunded.
    pub net_cents: i64,
}

/// An event in a ranking.
#[derive(Debug, Object)]
pub struct EventRankView {
    /// The event.
    pub event_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its currency.
    pub currency: String,
    /// Seats and units booked in the range.
    pub tickets_sold: i64,
    /// Net revenue in the range, in its currency.
    pub net_cents: i64,
}

/// Revenue of one day in one currency.
#[derive(Debug, Object)]
pub struct CurrencyDayView {
    /// The day, in the requested zone.
    pub day: NaiveDate,
    /// ISO 4217.
    pub currency: String,
    /// Bookings' totals.
    pub gross_cents: i64,
    /// Refunds paid out.
    pub refunded_cents: i64,
    /// gross - refunded.
    pub net_cents: i64,
}

/// A tag by the tickets its events sold.
#[derive(Debug, Object)]
pub struct TagRankView {
    /// The tag.
    pub tag: String,
    /// Its events that sold in the range.
    pub events: i64,
    /// Seats and units they sold.
    pub tickets_sold: i64,
}

/// Totals across your events (admins: everyone's) for a range of days.
#[derive(Debug, Object)]
pub struct OverviewView {
    /// First day.
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
    /// The days' zone.
    pub tz: String,
    /// One entry per currency: amounts in different currencies are never
    /// added together.
    pub totals: Vec<TotalsView>,
    /// The 10 events with most tickets sold.
    pub top_by_tickets: Vec<EventRankView>,
    /// The 10 events with the highest net revenue in each currency.
    pub top_by_revenue: Vec<EventRankView>,
    /// Every day of the range for each currency with activity.
    pub revenue_per_day: Vec<CurrencyDayView>,
    /// The 10 tags whose events sold most tickets.
    pub top_tags: Vec<TagRankView>,
}

fn rank(r: core::EventRank) -> EventRankView {
    EventRankView {
        event_id: r.event_id,
        title: r.title,
        currency: r.currency,
        tickets_sold: r.tickets_sold,
        net_cents: r.net_cents,
    }
}

impl From<core::Overview> for OverviewView {
    fn from(o: core::Overview) -> Self {
        Self {
            from: o.from,
            to: o.to,
            tz: o.tz,
            totals: o
                .totals
                .into_iter()
                .map(|t| TotalsView {
                    currency: t.currency,
                    events: t.events,
                    bookings: t.bookings,
                    cancellations: t.cancellations,
                    tickets_sold: t.tickets_sold,
                    tickets_cancelled: t.tickets_cancelled,
                    gross_cents: t.gross_cents,
                    refunded_cents: t.refunded_cents,
                    net_cents: t.net_cents,
                })
                .collect(),
            top_by_tickets: o.top_by_tickets.into_iter().map(rank).collect(),
            top_by_revenue: o.top_by_revenue.into_iter().map(rank).collect(),
            revenue_per_day: o
                .revenue_per_day
                .into_iter()
                .map(|d| CurrencyDayView {
                    day: d.day,
                    currency: d.currency,
                    gross_cents: d.gross_cents,
                    refunded_cents: d.refunded_cents,
                    net_cents: d.net_cents,
                })
                .collect(),
            top_tags: o
                .top_tags
                .into_iter()
                .map(|t| TagRankView {
                    tag: t.tag,
                    events: t.events,
                    tickets_sold: t.tickets_sold,
                })
                .collect(),
        }
    }
}
