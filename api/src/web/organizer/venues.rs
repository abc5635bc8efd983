//! Venues: created from a layout typed one section per line, with a live
//! preview of the seat map while typing.

use marquee_core::auth::Invalid;
use marquee_core::catalog::venues::{NewVenue, RowInput, SectionInput};
use poem::{Response, handler};
use uuid::Uuid;

use super::organizer;
use crate::actions::catalog;
use crate::problem::ApiError;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web, see_other};

/// What the layout box starts with.
const EXAMPLE: &str = "Stalls: A 12, B 12, C 14\nBalcony: D 10, E 10";

/// Parses the layout box: one section per line, `Name: ROW SEATS, ...`
/// ("Stalls: A 12, B 12"). Problems name the line.
pub fn parse_layout(text: &str) -> Result<Vec<SectionInput>, Vec<Invalid>> {
    let mut sections = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line_no = n + 1;
        let Some((name, rows)) = line.split_once(':') else {
            problems.push(Invalid::new(
                "layout",
                format!("line {line_no}: write `Section: ROW SEATS, ROW SEATS`"),
            ));
            continue;
        };
        let mut parsed = Vec::new();
        for row in rows.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match row.rsplit_once(char::is_whitespace) {
                Some((label, seats)) if seats.trim().parse::<i32>().is_ok() => {
                    parsed.push(RowInput {
                        label: label.trim().to_owned(),
                        seats: seats.trim().parse().expect("checked"),
                    });
                }
                _ => problems.push(Invalid::new(
                    "layout",
                    format!("line {line_no}: `{row}` should be a row label and a seat count, like `A 12`"),
                )),
            }
        }
        sections.push(SectionInput {
            name: name.trim().to_owned(),
            rows: parsed,
        });
    }
    if problems.is_empty() {
        Ok(sections)
    } else {
        Err(problems)
    }
}

/// `GET /organizer/venues/new`
#[handler]
pub async fn new_form(web: Web) -> Result<Response, Stop> {
    organizer(&web)?;
    Ok(web.page(
        "organizer/venue_new.html",
        minijinja::context! {
            layout => EXAMPLE, time_zone => "UTC", zones => zones(),
        },
    ))
}

fn zones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect()
}

/// `POST /organizer/venues/preview`: the seat map the layout makes, or
/// what is wrong with it. Changes nothing.
#[handler]
pub async fn preview(web: Web, fields: Fields) -> Result<Response, Stop> {
    organizer(&web)?;
    let layout = fields.get("layout").unwrap_or_default();
    let checked =
        parse_layout(layout).and_then(|s| marquee_core::catalog::venues::check_sections(&s));
    let (sections, problems) = match checked {
        Ok(sections) => (sections, Vec::new()),
        Err(problems) => (Vec::new(), problems),
    };
    let seats: usize = sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.seats.max(0) as usize)
        .sum();
    // A big hall is previewed as counts only: the preview runs on every
    // keystroke and must stay small.
    let drawn = seats <= crate::web::people::event::MAP_LIMIT;
    let sections: Vec<_> = sections
        .iter()
        .map(|s| {
            minijinja::context! {
                name => s.name,
                seats => s.rows.iter().map(|r| r.seats).sum::<i32>(),
                rows => s.rows.iter().map(|r| minijinja::context! {
                    label => r.label,
                    count => r.seats,
                    seats => if drawn { (1..=r.seats).collect::<Vec<_>>() } else { Vec::new() },
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let problems: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    Ok(web.page(
        "organizer/_venue_preview.html",
        minijinja::context! { sections, seats, problems, drawn },
    ))
}

/// `POST /organizer/venues`: `name`, `address`, `time_zone`, `layout`.
#[handler]
pub async fn create(web: Web, fields: Fields) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let layout = fields.get("layout").unwrap_or_default();
    let checked = parse_layout(layout).and_then(|sections| {
        NewVenue::check(
            fields.get("name").unwrap_or_default(),
            fields.text("address"),
            fields.text("time_zone"),
            &sections,
        )
    });
    let created = match checked {
        Ok(venue) => catalog::create_venue(&web.state, actor, &venue).await,
        Err(problems) => Err(ApiError::from(problems)),
    };
    match created {
        Ok(venue) => Ok(see_other(&format!(
            "/organizer/events/new?venue={}",
            venue.id
        ))),
        Err(error) => {
            let mut shown = Shown::from(&error);
            // The layout box stands for every section, row and seat field.
            let nested: Vec<String> = shown
                .fields
                .keys()
                .filter(|k| k.starts_with("sections"))
                .cloned()
                .collect();
            for key in nested {
                if let Some(message) = shown.fields.remove(&key) {
                    shown.fields.entry("layout".to_owned()).or_insert(message);
                }
            }
            Ok(web.page_with(
                shown.status,
                "organizer/venue_new.html",
                minijinja::context! {
                    error => shown,
                    name => fields.get("name"),
                    address => fields.get("address"),
                    time_zone => fields.get("time_zone"),
                    layout, zones => zones(),
                },
            ))
        }
    }
}

/// A venue id from a form or query, if it is one.
pub fn venue_id(text: Option<&str>) -> Option<Uuid> {
    text.and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_is_one_section_per_line_and_mistakes_name_their_line() {
        let sections = parse_layout("Stalls: A 12, B 10\n\nBalcony: AA 4").unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].rows[1].label, "B");
        assert_eq!(sections[0].rows[1].seats, 10);
        assert_eq!(sections[1].rows[0].label, "AA");
        let problems = parse_layout("Stalls A 12\nBalcony: D ten").unwrap_err();
        assert!(problems[0].message.starts_with("line 1:"), "{problems:?}");
        assert!(problems[1].message.starts_with("line 2:"), "{problems:?}");
    }
}
