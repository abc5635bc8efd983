//! Finding control characters in what a client sent, and naming the field
//! they are in the way 422s name fields: dotted JSON paths without array
//! indices (`sections.rows.label`), query keys, path parameter names.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::problem::FieldError;

/// Control characters text may not hold: C0 (but tab, newline and carriage
/// return, which email bodies need), DEL and C1.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn problem(field: impl Into<String>, text: &str) -> Option<FieldError> {
    let found = text.chars().find(|c| is_forbidden(*c))?;
    Some(FieldError {
        field: field.into(),
        message: format!(
            "must not contain control characters (found U+{:04X}); tab, newline and carriage return are allowed",
            found as u32
        ),
    })
}

/// A name safe to echo back: a key with control characters in it.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if is_forbidden(c) { '\u{FFFD}' } else { c })
        .collect()
}

/// Problems in a JSON body. Unparsable bodies have none here: the route
/// answers them with its own 400.
pub fn json_problems(body: &[u8]) -> Vec<FieldError> {
    if !may_hold_controls(body) {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    walk(&value, "", &mut problems);
    problems.dedup();
    problems
}

/// Valid JSON spells a control character only as an escape (`\u0001`, `\b`,
/// `\f`...), or raw as DEL or a C1 character; most bodies have none of
/// these, and are not parsed twice.
fn may_hold_controls(body: &[u8]) -> bool {
    body.windows(2).any(|w| match w[0] {
        b'\\' => matches!(w[1], b'u' | b'b' | b'f'),
        0x7F => true,
        0xC2 => (0x80..=0x9F).contains(&w[1]),
        _ => false,
    }) || body.last() == Some(&0x7F)
}

/// Most problems reported for one request: a body of 50,000 bad keys must
/// not buy a 6 MB answer (and the CPU to build it) without signing in.
pub const MAX_PROBLEMS: usize = 20;

fn walk(value: &Value, field: &str, problems: &mut Vec<FieldError>) {
    if problems.len() >= MAX_PROBLEMS {
        return;
    }
    let field_name = || if field.is_empty() { "body" } else { field };
    match value {
        Value::String(text) => problems.extend(problem(field_name(), text)),
        Value::Array(items) => items.iter().for_each(|item| walk(item, field, problems)),
        Value::Object(fields) => {
            for (name, item) in fields {
                let nested = if field.is_empty() {
                    printable(name)
                } else {
                    format!("{field}.{}", printable(name))
                };
                if let Some(mut bad) = problem(nested.clone(), name) {
                    bad.message = format!("a key {}", bad.message);
                    problems.push(bad);
                }
                walk(item, &nested, problems);
            }
        }
        _ => {}
    }
}

/// Problems in a query string, named by key.
pub fn query_problems(query: &str) -> Vec<FieldError> {
    form_urlencoded::parse(query.as_bytes())
        .flat_map(|(key, value)| {
            let name = printable(&key);
            [problem(name.clone(), &key), problem(name, &value)]
        })
        .flatten()
        .collect()
}

/// Problems in the path, named by the parameter of the route they are in.
pub fn path_problems(path: &str, templates: &PathTemplates) -> Vec<FieldError> {
    let segments: Vec<Cow<'_, str>> = path
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy())
        .collect();
    segments
        .iter()
        .enumerate()
        .filter_map(|(i, segment)| problem(templates.name_at(&segments, i), segment))
        .collect()
}

/// The routes' path templates (`/api/v1/venues/{id}`), to name the
/// parameter a bad path segment stands for.
#[derive(Debug, Default)]
pub struct PathTemplates(Vec<Vec<Segment>>);

#[derive(Debug)]
enum Segment {
    Literal(String),
    Parameter(String),
}

impl PathTemplates {
    /// From the `paths` of an OpenAPI document.
    pub fn from_spec(spec: &Value) -> Self {
        let templates = spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .keys()
                    .map(|template| {
                        template
                            .split('/')
                            .map(
                                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                    Some(name) => Segment::Parameter(name.to_owned()),
                                    None => Segment::Literal(s.to_owned()),
                                },
                            )
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self(templates)
    }

    /// The parameter at `index` of the first template `segments` match;
    /// `path` when none does.
    fn name_at(&self, segments: &[Cow<'_, str>], index: usize) -> String {
        self.0
            .iter()
            .filter(|t| t.len() == segments.len())
            .filter(|t| {
                t.iter()
                    .zip(segments)
                    .enumerate()
                    .all(|(i, (part, given))| match part {
                        Segment::Literal(literal) => literal == given,
                        Segment::Parameter(_) => i == index || !given.chars().any(is_forbidden),
                    })
            })
            .find_map(|t| match &t[index] {
                Segment::Parameter(name) => Some(name.clone()),
                Segment::Literal(_) => None,
            })
            .unwrap_or_else(|| "path".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(problems: Vec<FieldError>) -> Vec<String> {
        problems.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn json_fields_are_named_by_dotted_path() {
        let body = json!({"name": "ok\ttab\r\n", "sections": [{"rows": [{"label": "A\u{0}"}]}],
                          "note": "esc\u{1b}", "del": "x\u{7f}", "c1": "\u{85}"});
        let body = serde_json::to_vec(&body).unwrap();
        let mut found = fields(json_problems(&body));
        found.sort();
        assert_eq!(found, ["c1", "del", "note", "sections.rows.label"]);
    }

    #[test]
    fn problems_stop_at_the_cap() {
        let body: String = (0..500)
            .map(|n| format!("\"k{n}\": \"\\u0001\""))
            .collect::<Vec<_>>()
            .join(",");
        let found = json_problems(format!("{{{body}}}").as_bytes());
        assert_eq!(found.len(), MAX_PROBLEMS);
    }

    #[test]
    fn clean_or_unparsable_bodies_have_no_problems() {
        assert!(json_problems(br#"{"name": "caf\u00e9 \"quoted\" \n"}"#).is_empty());
        assert!(json_problems(b"{\"name\": \\u0000").is_empty());
        assert!(json_problems(b"").is_empty());
    }

    #[test]
    fn query_and_path_are_checked_after_decoding() {
        assert_eq!(fields(query_problems("q=a%00b&page=1")), ["q"]);
        assert!(query_problems("q=line%0Abreak+and+space").is_empty());
        let spec = json!({"paths": {"/api/v1/unsubscribe/{token}": {}, "/api/v1/venues/{id}": {}}});
        let templates = PathTemplates::from_spec(&spec);
        assert_eq!(
            fields(path_problems("/api/v1/unsubscribe/a%01", &templates)),
            ["token"]
        );
        assert_eq!(
            fields(path_problems("/api/v1/nowhere/%00", &templates)),
            ["path"]
        );
        assert!(path_problems("/api/v1/venues/caf%C3%A9", &templates).is_empty());
    }
}
