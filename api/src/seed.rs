//! `marquee-api seed`: demo data for a fresh database, so `just run` shows
//! something to browse. Refused in production: the demo logins are public.

use chrono::{Duration, Utc};
use marquee_core::Settings;
use marquee_core::auth::{self, NewUser, Passwords, Role};
use marquee_core::catalog::Actor;
use marquee_core::catalog::events::{self, EventFields, SectionPrice, TicketTypeInput};
use marquee_core::catalog::venues::{self, RowInput, SectionInput};
use marquee_core::config::Environment;
use sqlx::PgPool;
use uuid::Uuid;

/// Every demo account's password.
pub const DEMO_PASSWORD: &str = "marquee-demo";

/// The demo accounts: (email, name, role).
pub const DEMO_ACCOUNTS: [(&str, &str, Role); 5] = [
    ("admin@marquee.local", "Ada Admin", Role::Admin),
    (
        "organizer@marquee.local",
        "Olive Organizer",
        Role::Organizer,
    ),
    ("fan1@marquee.local", "Finn Fan", Role::User),
    ("fan2@marquee.local", "Fay Fan", Role::User),
    ("fan3@marquee.local", "Flo Fan", Role::User),
];

/// What `seed` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Seeded {
    /// Created the demo data.
    Created,
    /// The demo admin exists: nothing done.
    AlreadyThere,
}

/// The command: connects, migrates, seeds, prints the logins.
pub async fn command(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.environment != Some(Environment::Production),
        "refusing to seed demo accounts with a public password in production"
    );
    let pool = marquee_core::db::connect(&settings.database).await?;
    marquee_core::db::migrate(&pool).await?;
    let passwords =
        Passwords::new(&settings.auth).map_err(|e| anyhow::anyhow!("auth.argon2_*: {e}"))?;
    match run(&pool, &passwords).await? {
        Seeded::Created => println!("demo data created"),
        Seeded::AlreadyThere => println!("demo data already there"),
    }
    println!("demo logins (password `{DEMO_PASSWORD}`):");
    for (email, _, role) in DEMO_ACCOUNTS {
        println!("  {:<26} {}", email, role.as_str());
    }
    Ok(())
}

/// Creates the demo accounts, two venues (30 and 1,000 seats) and four
/// published events, one of them sold out. Does nothing if the demo admin
/// exists, so it is safe to run on every start.
pub async fn run(pool: &PgPool, passwords: &Passwords) -> anyhow::Result<Seeded> {
    if auth::find_by_email(pool, DEMO_ACCOUNTS[0].0)
        .await?
        .is_some()
    {
        return Ok(Seeded::AlreadyThere);
    }
    let hash = passwords.hash(DEMO_PASSWORD);
    let mut organizer = Uuid::nil();
    for (email, name, role) in DEMO_ACCOUNTS {
        let new = NewUser::parse(email, name, DEMO_PASSWORD)
            .map_err(|_| anyhow::anyhow!("demo account {email} is invalid"))?;
        let Some(user) = auth::create_user(pool, &new, &hash).await? else {
            continue;
        };
        sqlx::query!(
            "UPDATE users SET role = $2, email_verified_at = now() WHERE id = $1",
            user.id,
            role as Role,
        )
        .execute(pool)
        .await?;
        if role == Role::Organizer {
            organizer = user.id;
        }
    }
    let actor = Actor {
        user_id: organizer,
        role: Role::Organizer,
    };
    let club = venue(pool, actor, "The Cellar Club", &[("Floor", 3, 10)]).await?;
    let hall = venue(
        pool,
        actor,
        "Grand Hall",
        &[("Stalls", 20, 30), ("Balcony", 10, 40)],
    )
    .await?;

    let days = |n: i64| Utc::now() + Duration::days(n);
    let seated = |venue: &venues::Venue, prices: &[i32]| -> Vec<SectionPrice> {
        venue
            .sections
            .iter()
            .zip(prices)
            .map(|(section, &price_cents)| SectionPrice {
                section_id: section.id,
                price_cents,
            })
            .collect()
    };
    let ga = |name: &str, price_cents: i32, capacity: i32| TicketTypeInput {
        name: name.to_owned(),
        price_cents,
        capacity,
    };
    let demo = [
        fields(
            "Symphony No. 9",
            "The Grand Hall orchestra plays Beethoven.",
            days(14),
            Some(hall.id),
            seated(&hall, &[6500, 3500]),
            vec![],
        ),
        fields(
            "Jazz in the Cellar",
            "A late trio set, seated.",
            days(7),
            Some(club.id),
            seated(&club, &[2500]),
            vec![],
        ),
        fields(
            "Summer Open Air",
            "Three stages, general admission.",
            days(60),
            None,
            vec![],
            vec![ga("Day ticket", 4900, 2000), ga("Weekend", 8900, 500)],
        ),
        fields(
            "Secret Gig",
            "Sold out in minutes.",
            days(21),
            None,
            vec![],
            vec![ga("Standing", 1500, 100)],
        ),
    ];
    let tags: [&[&str]; 4] = [
        &["classical", "orchestra"],
        &["jazz", "late"],
        &["festival", "outdoor"],
        &["rock"],
    ];
    for (mut fields, tags) in demo.into_iter().zip(tags) {
        fields.tags = tags.iter().map(|t| t.to_string()).collect();
        let fields = fields
            .check()
            .map_err(|p| anyhow::anyhow!("demo event: {p:?}"))?;
        let event = events::create(pool, actor, fields).await?;
        events::publish(pool, actor, event.id).await?;
    }
    // The secret gig sold out (bookings come with the booking issue).
    sqlx::query!(
        "UPDATE ticket_types t SET sold = capacity FROM events e
         WHERE e.id = t.event_id AND e.title = 'Secret Gig'",
    )
    .execute(pool)
    .await?;
    Ok(Seeded::Created)
}

async fn venue(
    pool: &PgPool,
    actor: Actor,
    name: &str,
    sections: &[(&str, usize, i32)],
) -> anyhow::Result<venues::Venue> {
    let layout: Vec<SectionInput> = sections
        .iter()
        .map(|&(name, rows, seats)| SectionInput {
            name: name.to_owned(),
            rows: (0..rows)
                .map(|r| RowInput {
                    label: row_label(r),
                    seats,
                })
                .collect(),
        })
        .collect();
    // Demo venues sit in one zone, so pages show local times.
    let new = venues::NewVenue::check(name, Some("Demo Street 1"), Some("Europe/Paris"), &layout)
        .map_err(|p| anyhow::anyhow!("{p:?}"))?;
    Ok(venues::create(pool, actor.user_id, &new).await?)
}

/// A, B, ... Z, AA, AB, ...
fn row_label(n: usize) -> String {
    let letter = |i: usize| char::from(b'A' + (i % 26) as u8);
    if n < 26 {
        letter(n).to_string()
    } else {
        format!("{}{}", letter(n / 26 - 1), letter(n))
    }
}

fn fields(
    title: &str,
    description: &str,
    starts_at: chrono::DateTime<Utc>,
    venue_id: Option<Uuid>,
    section_prices: Vec<SectionPrice>,
    ticket_types: Vec<TicketTypeInput>,
) -> EventFields {
    EventFields {
        title: title.to_owned(),
        description: description.to_owned(),
        starts_at,
        ends_at: Some(starts_at + Duration::hours(3)),
        venue_id,
        section_prices,
        ticket_types,
        currency: "EUR".to_owned(),
        sales_start: None,
        sales_end: None,
        max_per_order: 10,
        hold_minutes: 10,
        waitlist_offer_minutes: 30,
        tags: Vec::new(),
    }
}
