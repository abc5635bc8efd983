//! An event's editable fields: validation, and which may change when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::EventStatus;
use crate::auth::Invalid;
use crate::catalog::{CatalogError, check_text};

/// Most ticket types per event.
pub const MAX_TICKET_TYPES: usize = 20;
/// Highest price, in minor units (a million of the currency).
pub const MAX_PRICE_CENTS: i32 = 100_000_000;
/// Largest capacity of one ticket type.
pub const MAX_CAPACITY: i32 = 1_000_000;

/// A section's price in a seated event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SectionPrice {
    /// A section of the event's venue.
    pub section_id: Uuid,
    /// Minor units, >= 0.
    pub price_cents: i32,
}

/// A general-admission ticket type as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketTypeInput {
    /// Unique in the event.
    pub name: String,
    /// Minor units, >= 0.
    pub price_cents: i32,
    /// Units for sale, >= 1.
    pub capacity: i32,
}

/// Everything an organizer sets on an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFields {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End, after the start.
    pub ends_at: Option<DateTime<Utc>>,
    /// Venue, for a seated event.
    pub venue_id: Option<Uuid>,
    /// Prices of the venue's sections.
    pub section_prices: Vec<SectionPrice>,
    /// General-admission ticket types.
    pub ticket_types: Vec<TicketTypeInput>,
    /// ISO 4217 code, e.g. "EUR" (lower case is normalised).
    pub currency: String,
    /// Sales open (default: at publish).
    pub sales_start: Option<DateTime<Utc>>,
    /// Sales close (default: at the start).
    pub sales_end: Option<DateTime<Utc>>,
    /// Most seats or units in one order.
    pub max_per_order: i32,
    /// How long a hold lasts.
    pub hold_minutes: i32,
    /// How long a waitlist offer lasts.
    pub waitlist_offer_minutes: i32,
    /// Up to 10 normalised tags (see `catalog::tags`).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl EventFields {
    /// Checks and normalises every field; all problems at once.
    pub fn check(mut self) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        self.title = check_text(&mut problems, "title", &self.title, 200);
        if self.description.chars().count() > 10_000 || self.description.contains('\0') {
            problems.push(Invalid::new(
                "description",
                "must be at most 10000 characters",
            ));
        }
        if self.ends_at.is_some_and(|end| end <= self.starts_at) {
            problems.push(Invalid::new("ends_at", "must be after starts_at"));
        }
        // Lower case is accepted and stored upper case ("eur" -> "EUR");
        // anything ISO 4217 does not list as a currency with a minor unit
        // ("XYZ", funds, gold, "XXX") is refused.
        let currency = self.currency.trim().to_ascii_uppercase();
        if crate::money::currency(&currency).is_none() {
            problems.push(Invalid::new(
                "currency",
                "must be an ISO 4217 currency code, e.g. EUR",
            ));
        }
        self.currency = currency;
        if let (Some(start), Some(end)) = (self.sales_start, self.sales_end)
            && end <= start
        {
            problems.push(Invalid::new("sales_end", "must be after sales_start"));
        }
        if !(1..=100).contains(&self.max_per_order) {
            problems.push(Invalid::new("max_per_order", "must be 1-100"));
        }
        if !(1..=120).contains(&self.hold_minutes) {
            problems.push(Invalid::new("hold_minutes", "must be 1-120"));
        }
        if !(1..=1440).contains(&self.waitlist_offer_minutes) {
            problems.push(Invalid::new("waitlist_offer_minutes", "must be 1-1440"));
        }
        let price_ok = |cents: i32| (0..=MAX_PRICE_CENTS).contains(&cents);
        if self.section_prices.iter().any(|p| !price_ok(p.price_cents)) {
            problems.push(Invalid::new(
                "section_prices.price_cents",
                format!("must be 0-{MAX_PRICE_CENTS}"),
            ));
        }
        let mut sections = std::collections::HashSet::new();
        if !self
            .section_prices
            .iter()
            .all(|p| sections.insert(p.section_id))
        {
            problems.push(Invalid::new(
                "section_prices.section_id",
                "a section is priced twice",
            ));
        }
        if self.ticket_types.len() > MAX_TICKET_TYPES {
            problems.push(Invalid::new(
                "ticket_types",
                format!("at most {MAX_TICKET_TYPES} ticket types"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for ticket in &mut self.ticket_types {
            ticket.name = check_text(&mut problems, "ticket_types.name", &ticket.name, 100);
            if !names.insert(ticket.name.to_lowercase()) {
                problems.push(Invalid::new("ticket_types.name", "names must be unique"));
            }
            if !price_ok(ticket.price_cents) {
                problems.push(Invalid::new(
                    "ticket_types.price_cents",
                    format!("must be 0-{MAX_PRICE_CENTS}"),
                ));
            }
            if !(1..=MAX_CAPACITY).contains(&ticket.capacity) {
                problems.push(Invalid::new(
                    "ticket_types.capacity",
                    format!("must be 1-{MAX_CAPACITY}"),
                ));
            }
        }
        self.tags = crate::catalog::tags::check(&mut problems, "tags", &self.tags);
        problems.dedup();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }
}

/// A partial update. `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Start.
    pub starts_at: Option<DateTime<Utc>>,
    /// End.
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// Venue.
    pub venue_id: Option<Option<Uuid>>,
    /// Replaces all section prices.
    pub section_prices: Option<Vec<SectionPrice>>,
    /// Replaces all ticket types.
    pub ticket_types: Option<Vec<TicketTypeInput>>,
    /// Currency.
    pub currency: Option<String>,
    /// Sales open.
    pub sales_start: Option<Option<DateTime<Utc>>>,
    /// Sales close.
    pub sales_end: Option<Option<DateTime<Utc>>>,
    /// Order limit.
    pub max_per_order: Option<i32>,
    /// Hold length.
    pub hold_minutes: Option<i32>,
    /// Waitlist offer length.
    pub waitlist_offer_minutes: Option<i32>,
    /// Replaces every tag.
    pub tags: Option<Vec<String>>,
}

impl EventPatch {
    /// The fields this patch sets, by request name.
    fn present(&self) -> Vec<&'static str> {
        let fields = [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("starts_at", self.starts_at.is_some()),
            ("ends_at", self.ends_at.is_some()),
            ("venue_id", self.venue_id.is_some()),
            ("section_prices", self.section_prices.is_some()),
            ("ticket_types", self.ticket_types.is_some()),
            ("currency", self.currency.is_some()),
            ("sales_start", self.sales_start.is_some()),
            ("sales_end", self.sales_end.is_some()),
            ("max_per_order", self.max_per_order.is_some()),
            ("hold_minutes", self.hold_minutes.is_some()),
            (
                "waitlist_offer_minutes",
                self.waitlist_offer_minutes.is_some(),
            ),
            ("tags", self.tags.is_some()),
        ];
        fields
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name)
            .collect()
    }

    /// 409 naming the first field `status` does not let change. A draft
    /// changes freely; a published event only in ways buyers are not hurt
    /// by (what it says, its tags, when sales close, order and hold limits); a
    /// cancelled or completed one not at all.
    pub fn allowed_in(&self, status: EventStatus) -> Result<(), CatalogError> {
        const PUBLISHED: [&str; 7] = [
            "title",
            "description",
            "tags",
            "sales_end",
            "max_per_order",
            "hold_minutes",
            "waitlist_offer_minutes",
        ];
        let refused = self.present().into_iter().find(|field| match status {
            EventStatus::Draft => false,
            EventStatus::Published => !PUBLISHED.contains(field),
            EventStatus::Cancelled | EventStatus::Completed => true,
        });
        match refused {
            Some(field) => Err(CatalogError::Conflict(format!(
                "`{field}` cannot change while the event is {}",
                status.as_str()
            ))),
            None => Ok(()),
        }
    }

    /// `current` with this patch applied, checked as a whole.
    pub fn apply(&self, current: EventFields) -> Result<EventFields, CatalogError> {
        let venue_changes = self.venue_id.is_some_and(|v| v != current.venue_id);
        let merged = EventFields {
            title: self.title.clone().unwrap_or(current.title),
            description: self.description.clone().unwrap_or(current.description),
            starts_at: self.starts_at.unwrap_or(current.starts_at),
            ends_at: self.ends_at.unwrap_or(current.ends_at),
            venue_id: self.venue_id.unwrap_or(current.venue_id),
            // Another venue has other sections: its prices must come anew.
            section_prices: match (&self.section_prices, venue_changes) {
                (Some(prices), _) => prices.clone(),
                (None, true) => Vec::new(),
                (None, false) => current.section_prices,
            },
            ticket_types: self.ticket_types.clone().unwrap_or(current.ticket_types),
            currency: self.currency.clone().unwrap_or(current.currency),
            sales_start: self.sales_start.unwrap_or(current.sales_start),
            sales_end: self.sales_end.unwrap_or(current.sales_end),
            max_per_order: self.max_per_order.unwrap_or(current.max_per_order),
            hold_minutes: self.hold_minutes.unwrap_or(current.hold_minutes),
            waitlist_offer_minutes: self
                .waitlist_offer_minutes
                .unwrap_or(current.waitlist_offer_minutes),
            tags: self.tags.clone().unwrap_or(current.tags),
        };
        merged.check().map_err(CatalogError::from)
    }
}
