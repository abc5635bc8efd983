//! Email templates: one folder per email under `workers/templates/email/`,
//! each with `subject.txt`, `body.txt` and `body.html`, compiled into the
//! binary. HTML bodies are auto-escaped.

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

macro_rules! email {
    ($env:ident, $name:literal, $($part:literal),+) => {
        $(
            $env.add_template(
                concat!($name, "/", $part),
                include_str!(concat!("../../templates/email/", $name, "/", $part)),
            )
            .expect(concat!("template ", $name, "/", $part, " parses"));
        )+
    };
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    email!(env, "welcome", "subject.txt", "body.txt", "body.html");
    email!(
        env,
        "password_reset",
        "subject.txt",
        "body.txt",
        "body.html"
    );
    email!(env, "verify_email", "subject.txt", "body.txt", "body.html");
    email!(env, "otp", "subject.txt", "body.txt", "body.html");
    email!(env, "refund_issued", "subject.txt", "body.txt", "body.html");
    email!(
        env,
        "tickets_issued",
        "subject.txt",
        "body.txt",
        "body.html"
    );
    email!(
        env,
        "waitlist_offered",
        "subject.txt",
        "body.txt",
        "body.html"
    );
    email!(
        env,
        "waitlist_expired",
        "subject.txt",
        "body.txt",
        "body.html"
    );
    email!(
        env,
        "waitlist_closed",
        "subject.txt",
        "body.txt",
        "body.html"
    );
    email!(
        env,
        "booking_confirmed",
        "subject.txt",
        "body.txt",
        "body.html"
    );
    env
});

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Renders the email `name` with `context`.
pub fn render(name: &str, context: impl Serialize) -> Result<Rendered, minijinja::Error> {
    let context = minijinja::Value::from_serialize(&context);
    let part = |part: &str| {
        TEMPLATES
            .get_template(&format!("{name}/{part}"))?
            .render(&context)
    };
    Ok(Rendered {
        subject: part("subject.txt")?.trim().to_owned(),
        text: part("body.txt")?,
        html: part("body.html")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_html_is_escaped() {
        let context = serde_json::json!({"name": "<Ada>", "email": "a@b.co", "code": "012345", "minutes": 10, "public_url": "http://x"});
        for name in ["welcome", "password_reset", "verify_email", "otp"] {
            let email = render(name, &context).unwrap();
            assert!(!email.subject.is_empty(), "{name}");
            assert!(
                !email.html.contains("<Ada>"),
                "{name}: HTML must be escaped: {}",
                email.html
            );
        }
        let welcome = render("welcome", &context).unwrap();
        assert!(welcome.text.contains("<Ada>") && welcome.html.contains("&lt;Ada&gt;"));
        assert!(render("otp", &context).unwrap().text.contains("012345"));
    }
}
