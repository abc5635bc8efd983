//! Event tags: what an organizer labels an event with, and what browse
//! filters on. Stored normalised, so "Jazz " and "jazz" are one tag.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::auth::Invalid;

/// Most tags on one event, and in one browse filter.
pub const MAX_TAGS: usize = 10;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;

/// `raw` trimmed, compatibility-normalised (NFKC: full-width "ＪＡＺＺ" and
/// the ligature "ﬁ" become plain letters, a decomposed "café" the composed
/// one) and lower-cased, if it is then 1-32 letters, digits and `-`, with at
/// least one letter or digit. Letters are any script's, with their accents
/// ("İstanbul" lower-cases to an i and a combining dot); digits are ASCII;
/// Hangul fillers, which show as blanks, are refused.
pub fn normalise(raw: &str) -> Option<String> {
    let tag: String = raw
        .trim()
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfc()
        .collect();
    let filler = |c: char| matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}');
    let letter = |c: char| (c.is_alphabetic() && !filler(c)) || c.is_ascii_digit();
    let mut previous: Option<char> = None;
    let allowed = tag.chars().all(|c| {
        let mark = is_combining_mark(c);
        let ok = letter(c) || c == '-' || (mark && previous.is_some_and(char::is_alphabetic));
        if !mark {
            previous = Some(c);
        }
        ok
    });
    let chars = tag.chars().count();
    ((1..=MAX_TAG_CHARS).contains(&chars) && allowed && tag.chars().any(letter)).then_some(tag)
}

/// Normalises every tag, drops repeats (keeping the first), and reports
/// a bad tag or more than [`MAX_TAGS`] under `field`.
pub fn check(problems: &mut Vec<Invalid>, field: &'static str, raw: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = Vec::with_capacity(raw.len().min(MAX_TAGS));
    for value in raw {
        match normalise(value) {
            Some(tag) if !tags.contains(&tag) => tags.push(tag),
            Some(_) => {}
            None => {
                problems.push(Invalid::new(
                    field,
                    format!("each tag must be 1-{MAX_TAG_CHARS} letters, digits or '-'"),
                ));
                return tags;
            }
        }
    }
    if tags.len() > MAX_TAGS {
        problems.push(Invalid::new(field, format!("at most {MAX_TAGS} tags")));
    }
    tags
}

/// A tag and how many published events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCount {
    /// The tag.
    pub tag: String,
    /// Published events with it.
    pub events: i64,
}

/// Tags of published events, most used first (ties by name), at most
/// `limit`.
pub async fn popular(pool: &PgPool, limit: i64) -> Result<Vec<TagCount>, sqlx::Error> {
    sqlx::query_as!(
        TagCount,
        r#"SELECT t.tag AS "tag!", count(*) AS "events!"
         FROM events e CROSS JOIN LATERAL unnest(e.tags) AS t(tag)
         WHERE e.status = 'published'
         GROUP BY t.tag ORDER BY count(*) DESC, t.tag LIMIT $1"#,
        limit,
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_lower_cased_and_limited_to_letters_digits_and_dashes() {
        assert_eq!(normalise("  Jazz ").as_deref(), Some("jazz"));
        assert_eq!(normalise("Open-Air-2027").as_deref(), Some("open-air-2027"));
        assert_eq!(normalise("CAFÉ").as_deref(), Some("café"));
        for bad in [
            "",
            "   ",
            "rock n roll",
            "a_b",
            "#jazz",
            "x".repeat(33).as_str(),
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(normalise(&"x".repeat(32)).map(|t| t.len()), Some(32));
        assert_eq!(normalise("ＪＡＺＺ").as_deref(), Some("jazz"));
        assert_eq!(normalise("\u{FB01}ve").as_deref(), Some("five"));
        assert_eq!(normalise("cafe\u{301}").as_deref(), Some("café"));
        assert!(normalise("İstanbul").is_some());
        for bad in [
            "-",
            "---",
            "\u{3164}",
            "\u{3164}\u{3164}",
            "a\u{200B}b",
            "\u{301}a",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn repeats_collapse_and_the_eleventh_tag_is_refused() {
        let mut problems = Vec::new();
        let raw: Vec<String> = ["Jazz", "jazz ", "outdoor"].map(String::from).into();
        assert_eq!(check(&mut problems, "tags", &raw), ["jazz", "outdoor"]);
        assert!(problems.is_empty());
        let raw: Vec<String> = (0..11).map(|n| format!("t{n}")).collect();
        check(&mut problems, "tags", &raw);
        assert_eq!(problems.len(), 1);
        let raw: Vec<String> = (0..10)
            .map(|n| format!("t{n}"))
            .chain(["T1".into()])
            .collect();
        let mut problems = Vec::new();
        assert_eq!(check(&mut problems, "tags", &raw).len(), 10);
        assert!(
            problems.is_empty(),
            "a repeat does not count against the limit"
        );
    }
}
