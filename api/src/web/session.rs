//! Page sessions: an HttpOnly, SameSite=Lax cookie holding a refresh token
//! of the existing session families (`Secure` when `http.public_url` is
//! https). Signing out revokes the family, so the cookie is dead on every
//! replica at once. Tokens never reach JavaScript or `localStorage`.

use marquee_core::Settings;
use poem::web::cookie::{Cookie, CookieJar, SameSite};

/// The session cookie.
pub const SESSION: &str = "marquee_session";
/// Binds CSRF tokens of visitors who are not signed in.
pub const VISITOR: &str = "marquee_visitor";

/// A cookie with our attributes; `max_age` `None` lasts the browser session.
pub fn cookie(
    settings: &Settings,
    name: &str,
    value: String,
    max_age: Option<std::time::Duration>,
) -> Cookie {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(settings.http.https());
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    cookie
}

/// Tells the browser to drop `name` (same path, so it matches).
pub fn forget(settings: &Settings, jar: &CookieJar, name: &str) {
    let mut gone = cookie(settings, name, String::new(), None);
    gone.set_max_age(std::time::Duration::ZERO);
    jar.add(gone);
}

/// Starts a page session with `refresh_token`.
pub fn start(settings: &Settings, jar: &CookieJar, refresh_token: String) {
    let ttl = std::time::Duration::from_secs(settings.jwt.refresh_ttl_seconds);
    jar.add(cookie(settings, SESSION, refresh_token, Some(ttl)));
    forget(settings, jar, VISITOR);
}

/// What a CSRF token is bound to: the session cookie when there is one,
/// else the visitor cookie. Read from the request alone, so the guard needs
/// no database.
pub fn binding(jar: &CookieJar) -> Option<String> {
    jar.get(SESSION)
        .or_else(|| jar.get(VISITOR))
        .map(|c| c.value_str().to_owned())
        .filter(|v| !v.is_empty())
}
