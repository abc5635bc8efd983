//! CSRF tokens: every form and every htmx write carries
//! `HMAC(key, binding)`, where the binding is the session cookie (or, before
//! sign-in, the visitor cookie; see `session::binding`). A page of another
//! site can send the cookie but cannot read the token. The guard checks
//! every write under `/` in one place, so no handler can forget it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use marquee_core::Settings;
use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::session;

/// The form field a token travels in.
pub const FIELD: &str = "csrf_token";
/// The header htmx sends it in (set on `<body hx-headers>`).
pub const HEADER: &str = "x-csrf-token";

fn mac(settings: &Settings) -> Hmac<Sha256> {
    // A key of its own, derived from the signing secret: a CSRF token can
    // never double as anything the JWT key signs.
    let mut derive = Hmac::<Sha256>::new_from_slice(settings.jwt.secret.expose_secret().as_bytes())
        .expect("HMAC takes any key length");
    derive.update(b"marquee csrf v1");
    let key = derive.finalize().into_bytes();
    Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length")
}

/// The token for `binding`.
pub fn token(settings: &Settings, binding: &str) -> String {
    let mut mac = mac(settings);
    mac.update(binding.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `supplied` is the token for `binding` (in constant time).
pub fn verify(settings: &Settings, binding: &str, supplied: &str) -> bool {
    let Ok(supplied) = URL_SAFE_NO_PAD.decode(supplied) else {
        return false;
    };
    let mut mac = mac(settings);
    mac.update(binding.as_bytes());
    mac.verify_slice(&supplied).is_ok()
}

/// Refuses every write without a valid token with a 403 page; reads pass.
pub async fn guard<E: Endpoint>(next: E, mut request: Request) -> Result<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(next.call(request).await?.into_response());
    }
    let settings = super::page::state_of(&request).settings.clone();
    let binding = session::binding(request.cookie());
    let supplied = match request.header(HEADER) {
        Some(token) => Some(token.to_owned()),
        None => {
            let body = request.take_body().into_bytes().await?;
            let token = super::form::Fields::parse(&body)
                .get(FIELD)
                .map(str::to_owned);
            request.set_body(body);
            token
        }
    };
    let valid = match (binding, supplied) {
        (Some(binding), Some(supplied)) => verify(&settings, &binding, &supplied),
        _ => false,
    };
    if !valid {
        tracing::info!(path = %request.uri().path(), "write refused: missing or wrong CSRF token");
        return Err(poem::Error::from_string(
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
            StatusCode::FORBIDDEN,
        ));
    }
    Ok(next.call(request).await?.into_response())
}
