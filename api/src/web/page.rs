//! `Web`: what every page handler starts from: the state, the signed-in
//! person (if any), the CSRF token for its forms, and rendering.

use marquee_core::auth::{Role, SignedIn, signed_in};
use marquee_core::catalog::Actor;
use poem::http::{Method, StatusCode, header};
use poem::web::cookie::CookieJar;
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use serde::Serialize;

use super::{csrf, session, templates};
use crate::client_ip::ClientIp;
use crate::problem::ApiError;
use crate::state::AppState;

/// A page request's context.
pub struct Web {
    /// Everything handlers reach.
    pub state: AppState,
    /// The signed-in person.
    pub me: Option<SignedIn>,
    /// The client's address, for rate limits.
    pub ip: ClientIp,
    /// This request's cookies; additions are sent back.
    pub jar: CookieJar,
    /// Path and query, to come back to after signing in.
    pub here: String,
    /// Whether this request is a read (GET or HEAD).
    pub reading: bool,
    /// The token for this page's forms.
    pub csrf: String,
}

/// A page that ends the handler early: an error page or a redirect.
pub type Stop = poem::Error;

/// The application state a request carries.
pub fn state_of(request: &Request) -> &AppState {
    request
        .data::<AppState>()
        .expect("the app adds AppState to every request")
}

impl<'a> FromRequest<'a> for Web {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let here = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let ip = request
            .data::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(None));
        let mut web = Web::load(
            state_of(request).clone(),
            request.cookie().clone(),
            ip,
            here,
        )
        .await?;
        web.reading = matches!(*request.method(), Method::GET | Method::HEAD);
        Ok(web)
    }
}

impl Web {
    /// Reads the session cookie; a dead one is dropped, and a visitor gets
    /// a cookie to bind CSRF tokens to.
    pub async fn load(
        state: AppState,
        jar: CookieJar,
        ip: ClientIp,
        here: String,
    ) -> poem::Result<Self> {
        let mut me = None;
        if let Some(cookie) = jar.get(session::SESSION) {
            me = signed_in(&state.pool, cookie.value_str())
                .await
                .map_err(ApiError::from)?;
            if me.is_none() {
                session::forget(&state.settings, &jar, session::SESSION);
            }
        }
        let binding = match &me {
            Some(_) => session::binding(&jar),
            None => jar
                .get(session::VISITOR)
                .map(|c| c.value_str().to_owned())
                .filter(|v| !v.is_empty()),
        };
        let binding = binding.unwrap_or_else(|| {
            let nonce = marquee_core::auth::new_refresh_token();
            jar.add(session::cookie(
                &state.settings,
                session::VISITOR,
                nonce.clone(),
                None,
            ));
            nonce
        });
        let csrf = csrf::token(&state.settings, &binding);
        Ok(Self {
            state,
            me,
            ip,
            jar,
            here,
            reading: true,
            csrf,
        })
    }

    /// The signed-in person, or a redirect to sign in and come back: to
    /// this page, or for a form (`/events/…/holds`) to the page it was on
    /// (`/events/…`), since a form's address cannot be opened.
    pub fn person(&self) -> Result<&SignedIn, Stop> {
        self.me.as_ref().ok_or_else(|| {
            let back = match self.reading {
                true => self.here.as_str(),
                false => self
                    .here
                    .split('?')
                    .next()
                    .and_then(|path| path.rsplit_once('/'))
                    .map(|(parent, _)| parent)
                    .filter(|parent| !parent.is_empty())
                    .unwrap_or("/"),
            };
            let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Stop::from_response(see_other(&format!("/sign-in?next={next}")))
        })
    }

    /// The person as an actor in the catalog's terms.
    pub fn actor(&self) -> Option<Actor> {
        self.me.as_ref().map(|me| Actor {
            user_id: me.user_id,
            role: me.role,
        })
    }

    /// The person, who must hold `role` (admins hold every role): else a
    /// 403 page.
    pub fn with_role(&self, role: Role) -> Result<&SignedIn, Stop> {
        let me = self.person()?;
        if me.role == role || me.role == Role::Admin {
            Ok(me)
        } else {
            Err(self.fail(ApiError::Forbidden(format!(
                "This page is for {}s.",
                role.as_str()
            ))))
        }
    }

    /// Renders `template` with `context` (plus `me`, `csrf` and `here`).
    pub fn page(&self, template: &str, context: impl Serialize) -> Response {
        self.page_with(StatusCode::OK, template, context)
    }

    /// [`Web::page`] with another status (a form shown again with errors).
    pub fn page_with(
        &self,
        status: StatusCode,
        template: &str,
        context: impl Serialize,
    ) -> Response {
        let me = self.me.as_ref().map(|me| {
            minijinja::context! {
                name => me.name,
                email => me.email,
                organizer => matches!(me.role, Role::Organizer | Role::Admin),
                admin => me.role == Role::Admin,
            }
        });
        let context = minijinja::context! {
            me => me,
            csrf => self.csrf,
            here => self.here,
            ..minijinja::Value::from_serialize(&context)
        };
        match templates::render(template, context) {
            Ok(html) => (status, poem::web::Html(html)).into_response(),
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    template,
                    "page failed to render"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The page failed to render. Quote the X-Request-Id.",
                )
                    .into_response()
            }
        }
    }

    /// An error page for `error`, with its status.
    pub fn fail(&self, error: impl Into<ApiError>) -> Stop {
        Stop::from_response(self.error_page(&error.into()))
    }

    /// The page for `error`.
    pub fn error_page(&self, error: &ApiError) -> Response {
        let shown = super::errors::Shown::from(error);
        self.page_with(shown.status, "error.html", &shown)
    }
}

/// 303 to `location`: after a form, the browser GETs the result.
pub fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .finish()
}
