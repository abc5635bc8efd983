//! Who is calling: people with access tokens, applications with API keys.

use marquee_core::auth::api_keys::{self, KEY_PREFIX, Scope};
use marquee_core::auth::{Role, revocation};
use poem::http::{StatusCode, header};
use poem::{Request, RequestBody};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An access token of a signed-in session.
    Session(Option<Uuid>),
    /// An API key, limited to its scopes.
    ApiKey {
        /// What it may do.
        scopes: Vec<Scope>,
        /// Its label.
        name: String,
    },
}

/// The caller, with their role as it is now (not as a token says).
#[derive(Debug, Clone)]
pub struct Caller {
    /// `users.id`; an API key acts for its owner.
    pub user_id: Uuid,
    /// Current role.
    pub role: Role,
    /// Token or key.
    pub credential: Credential,
}

impl Caller {
    /// 403 unless the caller has `role` (admins pass every check).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role || self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "requires the {} role",
                role.as_str()
            )))
        }
    }

    /// 403 for an API key without `scope`; people hold every scope.
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        match &self.credential {
            Credential::ApiKey { scopes, .. } if !scopes.contains(&scope) => Err(
                ApiError::Forbidden(format!("this API key lacks the `{}` scope", scope.as_str())),
            ),
            _ => Ok(()),
        }
    }

    /// 403 for an API key with none of `scopes`; people hold every scope.
    pub fn require_any_scope(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        match &self.credential {
            Credential::ApiKey { scopes: held, .. } if !scopes.iter().any(|s| held.contains(s)) => {
                let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                Err(ApiError::Forbidden(format!(
                    "this API key needs one of the scopes {}",
                    names.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// 403 for API keys: some things only a signed-in person may do.
    pub fn require_person(&self) -> Result<(), ApiError> {
        match self.credential {
            Credential::Session(_) => Ok(()),
            Credential::ApiKey { .. } => Err(ApiError::Forbidden(
                "API keys cannot do this; sign in".to_owned(),
            )),
        }
    }

    /// The caller as a catalog actor.
    pub fn actor(&self) -> marquee_core::catalog::Actor {
        marquee_core::catalog::Actor {
            user_id: self.user_id,
            role: self.role,
        }
    }

    /// 403 unless a signed-in organizer or admin: API keys do not manage
    /// the catalog.
    pub fn require_organizer(&self) -> Result<marquee_core::catalog::Actor, ApiError> {
        self.require_person()?;
        self.require(Role::Organizer)?;
        Ok(self.actor())
    }

    /// The session of an access token.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Session(id) => id,
            Credential::ApiKey { .. } => None,
        }
    }
}

/// `Authorization: Bearer <access token>`: a signed-in person, and only a
/// person. This is the default for routes: an API key here (`Bearer mk_…`)
/// gets 403, so a handler cannot forget to turn keys away. Routes that
/// applications call take [`AnyAuth`] and check `require_scope`.
/// Anything missing, malformed, expired, wrongly signed, of a revoked session
/// or of the wrong type gets 401.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_person")]
pub struct BearerAuth(pub Caller);

/// `Authorization: Bearer <access token>` or `Bearer mk_…` (an API key); only
/// inside [`AnyAuth`].
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "JWT or mk_ API key",
    checker = "check_bearer"
)]
pub struct KeyBearerAuth(pub Caller);

/// `X-API-Key: mk_…`
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-API-Key",
    key_in = "header",
    checker = "check_api_key"
)]
pub struct ApiKeyAuth(pub Caller);

/// A person or an API key, for endpoints applications call: the handler
/// must check `require_scope` (or decide that every key may call it).
///
/// Its extractor is written out rather than derived: the derived one tries
/// each scheme and reports the last one's error, so a `Bearer mk_…` key over
/// its limit (429) or a busy database (503) came back as the X-API-Key
/// scheme's "missing header" 401. This one reports the refusal of the
/// credential the request carries.
pub enum AnyAuth {
    /// Bearer token or key.
    Bearer(KeyBearerAuth),
    /// X-API-Key header.
    ApiKey(ApiKeyAuth),
}

impl<'a> ApiExtractor<'a> for AnyAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        KeyBearerAuth::register(registry);
        ApiKeyAuth::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        let mut schemes = KeyBearerAuth::security_schemes();
        schemes.extend(ApiKeyAuth::security_schemes());
        schemes
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bearer = match KeyBearerAuth::from_request(request, body, options.clone()).await {
            Ok(auth) => return Ok(Self::Bearer(auth)),
            Err(error) => error,
        };
        let key = match ApiKeyAuth::from_request(request, body, options).await {
            Ok(auth) => return Ok(Self::ApiKey(auth)),
            Err(error) => error,
        };
        let has_bearer = request.headers().contains_key(header::AUTHORIZATION);
        let has_key = request.headers().contains_key("x-api-key");
        let bearer_said_who = bearer.status() != StatusCode::UNAUTHORIZED;
        Err(if has_key && !(has_bearer && bearer_said_who) {
            key
        } else {
            bearer
        })
    }
}

/// A signed-in person if credentials are given; anyone otherwise. Invalid
/// credentials, and API keys, count as none (the caller sees what the public
/// sees).
#[derive(SecurityScheme)]
pub enum MaybeAuth {
    /// Access token.
    Bearer(BearerAuth),
    /// Nobody in particular.
    #[oai(fallback)]
    Anonymous,
}

impl MaybeAuth {
    /// The catalog actor, if signed in.
    pub fn actor(&self) -> Option<marquee_core::catalog::Actor> {
        match self {
            Self::Bearer(auth) => Some(auth.0.actor()),
            Self::Anonymous => None,
        }
    }
}

impl AnyAuth {
    /// The caller, whichever scheme was used.
    pub fn caller(&self) -> &Caller {
        match self {
            Self::Bearer(auth) => &auth.0,
            Self::ApiKey(auth) => &auth.0,
        }
    }
}

/// What a security scheme answers when it refuses, for the contract: 401
/// for missing or bad credentials, 503 when PostgreSQL is busy; people-only
/// bearer refuses an API key with 403; API keys count against their limit.
pub fn refusals(scheme: &str) -> u32 {
    use crate::contract::{FORBIDDEN, SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS, UNAUTHORIZED};
    use poem_openapi::ApiExtractor;
    let is = |schemes: Vec<&str>| schemes.contains(&scheme);
    if is(BearerAuth::security_schemes()) {
        UNAUTHORIZED | FORBIDDEN | SERVICE_UNAVAILABLE
    } else if is(KeyBearerAuth::security_schemes()) || is(ApiKeyAuth::security_schemes()) {
        UNAUTHORIZED | TOO_MANY_REQUESTS | SERVICE_UNAVAILABLE
    } else {
        UNAUTHORIZED
    }
}

fn unauthorized() -> poem::Error {
    ApiError::Unauthorized("missing or invalid credentials".to_owned()).into()
}

/// People only: a valid API key is refused with 403, anything else invalid
/// with 401. A key is not counted against its limit here: it can never use
/// these routes, so it must not spend its budget (nor see a 429) on them.
async fn check_person(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = request.data::<AppState>().ok_or_else(unauthorized)?;
    let caller = if bearer.token.starts_with(KEY_PREFIX) {
        key_caller_of(live_key(state, &bearer.token).await?)
    } else {
        check_bearer(request, bearer).await?
    };
    caller.require_person()?;
    Ok(caller)
}

async fn check_bearer(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = request.data::<AppState>().ok_or_else(unauthorized)?;
    if bearer.token.starts_with(KEY_PREFIX) {
        return key_caller(state, &bearer.token).await;
    }
    let claims = state
        .tokens
        .verify(&bearer.token)
        .ok_or_else(unauthorized)?;
    // Every token we issue names its session; one without cannot be revoked.
    let session_id = claims.sid.ok_or_else(unauthorized)?;
    let role = revocation::check_access(
        &state.pool,
        &state.redis,
        &state.settings.redis.key_prefix,
        claims.sub,
        session_id,
    )
    .await
    .map_err(ApiError::from)?
    .ok_or_else(unauthorized)?;
    Ok(Caller {
        user_id: claims.sub,
        role,
        credential: Credential::Session(Some(session_id)),
    })
}

async fn check_api_key(request: &Request, key: ApiKey) -> poem::Result<Caller> {
    let state = request.data::<AppState>().ok_or_else(unauthorized)?;
    key_caller(state, &key.key).await
}

/// A live key's owner, after counting the request against the key's limit.
async fn key_caller(state: &AppState, secret: &str) -> poem::Result<Caller> {
    let owner = live_key(state, secret).await?;
    state
        .limit(
            "api-key",
            &owner.key_id.to_string(),
            state.settings.rate_limits.per_api_key,
        )
        .await?;
    Ok(key_caller_of(owner))
}

/// Whether the request carries a live API key or a validly signed access
/// token (revocation is checked later, by the route): enough to be trusted
/// with a large body.
pub async fn presents_credential(state: &AppState, headers: &poem::http::HeaderMap) -> bool {
    let bearer = headers
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match key.or(bearer) {
        Some(secret) if secret.starts_with(KEY_PREFIX) => live_key(state, secret).await.is_ok(),
        Some(token) => state.tokens.verify(token).is_some(),
        None => false,
    }
}

/// The owner of a live key (401 for anything else).
async fn live_key(state: &AppState, secret: &str) -> poem::Result<api_keys::KeyOwner> {
    marquee_core::auth::key_cache::authenticate(
        &state.pool,
        &state.redis,
        &state.settings.redis.key_prefix,
        secret,
    )
    .await
    .map_err(ApiError::from)?
    .ok_or_else(unauthorized)
}

fn key_caller_of(owner: api_keys::KeyOwner) -> Caller {
    Caller {
        user_id: owner.user_id,
        role: owner.role,
        credential: Credential::ApiKey {
            scopes: owner.scopes,
            name: owner.name,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_with(scopes: Vec<Scope>) -> Caller {
        Caller {
            user_id: Uuid::nil(),
            role: Role::User,
            credential: Credential::ApiKey {
                scopes,
                name: "test".to_owned(),
            },
        }
    }

    #[test]
    fn a_key_acts_only_within_its_scopes_and_people_hold_all() {
        let otp_only = key_with(vec![Scope::Otp]);
        assert!(otp_only.require_scope(Scope::Otp).is_ok());
        let refused = otp_only.require_scope(Scope::EmailSend).unwrap_err();
        assert_eq!(
            poem::error::ResponseError::status(&refused),
            poem::http::StatusCode::FORBIDDEN
        );
        assert!(otp_only.require_person().is_err());
        let person = Caller {
            user_id: Uuid::nil(),
            role: Role::User,
            credential: Credential::Session(None),
        };
        assert!(
            Scope::ALL
                .into_iter()
                .all(|s| person.require_scope(s).is_ok())
        );
    }
}
