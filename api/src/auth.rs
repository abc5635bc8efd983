//! Who is calling: the bearer security scheme and role checks.

use marquee_core::auth::{Role, cache};
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::AppState;

/// A signed-in person, with their role as it is now (not as the token says).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// `users.id`
    pub user_id: Uuid,
    /// Current role.
    pub role: Role,
    /// The session (refresh-token family) the access token belongs to.
    pub session_id: Option<Uuid>,
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
}

/// `Authorization: Bearer <access token>`. A missing, malformed, expired,
/// wrongly signed or non-access token, or a deleted account, gets 401.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_access_token")]
pub struct BearerAuth(pub Caller);

async fn check_access_token(request: &Request, bearer: Bearer) -> Option<Caller> {
    let state = request.data::<AppState>()?;
    let claims = state.tokens.verify(&bearer.token)?;
    let role = cache::current_role(
        &state.pool,
        &state.redis,
        &state.settings.redis.key_prefix,
        claims.sub,
    )
    .await
    .ok()??;
    Some(Caller {
        user_id: claims.sub,
        role,
        session_id: claims.sid,
    })
}
