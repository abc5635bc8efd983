//! Sign-up, sign-in, token rotation, sign-out and "who am I".

use chrono::{DateTime, Utc};
use marquee_core::auth::{self, IssuedRefresh, RefreshError, Role, User, revocation};
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::actions::accounts;
use crate::auth::{AnyAuth, BearerAuth, Credential};
use crate::contract::{
    CONFLICT, FORBIDDEN, NONE, Problems, TOO_MANY_REQUESTS, UNAUTHORIZED, UNPROCESSABLE_ENTITY,
};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// `/api/v1/auth/*`
pub struct AuthApi;

/// A role, as shown to clients.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RoleView {
    /// Browses and books.
    User,
    /// Builds venues and events.
    Organizer,
    /// Everything.
    Admin,
}

impl From<RoleView> for Role {
    fn from(role: RoleView) -> Self {
        match role {
            RoleView::User => Self::User,
            RoleView::Organizer => Self::Organizer,
            RoleView::Admin => Self::Admin,
        }
    }
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Organizer => Self::Organizer,
            Role::Admin => Self::Admin,
        }
    }
}

/// A person's account.
#[derive(Debug, Object)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: RoleView,
    /// Whether the email address was confirmed.
    pub email_verified: bool,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role.into(),
            email_verified: user.email_verified_at.is_some(),
            created_at: user.created_at,
        }
    }
}

/// `GET /auth/me`
#[derive(Debug, Object)]
pub struct Me {
    /// The account (an API key acts for its owner).
    #[oai(flatten)]
    pub user: UserView,
    /// `session` or `api_key`.
    pub via: String,
    /// For an API key: its scopes.
    #[oai(skip_serializing_if_is_none)]
    pub scopes: Option<Vec<String>>,
}

/// Sign-up. Any other field (such as `role`) is ignored.
#[derive(Debug, Object)]
pub struct RegisterRequest {
    /// Email address; trimmed and lower-cased.
    pub email: String,
    /// 8-128 characters.
    pub password: String,
    /// Display name, 1-100 characters.
    pub name: String,
}

/// Sign-in.
#[derive(Debug, Object)]
pub struct LoginRequest {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A password change.
#[derive(Debug, Object)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    pub current_password: String,
    /// 8-128 characters.
    pub new_password: String,
}

/// A refresh token, for rotation or sign-out.
#[derive(Debug, Object)]
pub struct RefreshRequest {
    /// The opaque refresh token.
    pub refresh_token: String,
}

/// A signed-in session.
#[derive(Debug, Object)]
pub struct Session {
    /// The account.
    pub user: UserView,
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque; single use; rotate with `POST /auth/refresh`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// Account created and signed in.
    #[oai(status = 201)]
    Created(Json<Session>),
}

#[derive(ApiResponse)]
enum SessionResponse {
    /// Signed in.
    #[oai(status = 200)]
    Ok(Json<Session>),
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// Done; the affected sessions are revoked.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account (role `user`) and sign in. 409 if the email is taken.
    #[oai(path = "/register", method = "post")]
    async fn register(
        &self,
        state: Data<&AppState>,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, Problems<{ CONFLICT | UNPROCESSABLE_ENTITY }>> {
        let (user, refresh) =
            accounts::sign_up(state.0, &body.email, &body.name, &body.password).await?;
        Ok(RegisterResponse::Created(Json(session(
            state.0, user, refresh,
        ))))
    }

    /// Sign in. Unknown email and wrong password get the same 401.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        state: Data<&AppState>,
        ip: Data<&crate::client_ip::ClientIp>,
        body: Json<LoginRequest>,
    ) -> Result<SessionResponse, Problems<{ UNAUTHORIZED | TOO_MANY_REQUESTS }>> {
        let (user, refresh) = accounts::sign_in(state.0, ip.0, &body.email, &body.password).await?;
        Ok(SessionResponse::Ok(Json(session(state.0, user, refresh))))
    }

    /// Rotate: spend the refresh token, get a new pair. Reusing a spent
    /// token revokes the whole session family.
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> Result<SessionResponse, Problems<UNAUTHORIZED>> {
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        let rotated = auth::rotate(&mut tx, &body.refresh_token, accounts::refresh_ttl(state.0))
            .await
            .map_err(ApiError::from)?;
        // Commit either way: a detected reuse must leave the family revoked.
        tx.commit().await.map_err(ApiError::from)?;
        if let Err(RefreshError::Reused { family_id }) = &rotated {
            accounts::forget_sessions(state.0, &[*family_id]).await;
        }
        let refresh = rotated.map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        let user = auth::find_by_id(&state.pool, refresh.user_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::Unauthorized(RefreshError::Invalid.to_string()))?;
        Ok(SessionResponse::Ok(Json(session(state.0, user, refresh))))
    }

    /// Sign out: revokes the refresh token's whole family.
    #[oai(path = "/logout", method = "post")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> Result<LogoutResponse, Problems<NONE>> {
        accounts::sign_out(state.0, &body.refresh_token).await?;
        Ok(LogoutResponse::Revoked)
    }

    /// Change the password; every other session is signed out and every API
    /// key revoked (the old password may have leaked, and so may they).
    #[oai(path = "/change-password", method = "post")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
        body: Json<ChangePasswordRequest>,
    ) -> Result<LogoutResponse, Problems<{ UNAUTHORIZED | FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        caller.0.require_person()?;
        auth::check_password("new_password", &body.new_password)
            .map_err(|p| ApiError::from(vec![p]))?;
        let user = auth::find_by_id(&state.pool, caller.0.user_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".to_owned()))?;
        if !accounts::verify_blocking(
            state.0,
            body.current_password.clone(),
            Some(user.password_hash),
        )
        .await?
        {
            return Err(ApiError::Forbidden("the current password is incorrect".to_owned()).into());
        }
        let hash = accounts::hash_blocking(state.0, body.new_password.clone()).await?;
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        auth::set_password(&mut *tx, user.id, &hash)
            .await
            .map_err(ApiError::from)?;
        let revoked = revocation::revoke_credentials(&mut tx, user.id, caller.0.session_id())
            .await
            .map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        revocation::forget(&state.redis, &state.settings.redis.key_prefix, &revoked).await;
        tracing::info!(user.id = %user.id, "password changed; other sessions and API keys revoked");
        Ok(LogoutResponse::Revoked)
    }

    /// The caller's account, and how they authenticated.
    #[oai(path = "/me", method = "get")]
    async fn me(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
    ) -> Result<Json<Me>, Problems<UNAUTHORIZED>> {
        let caller = auth.caller();
        let user = auth::find_by_id(&state.pool, caller.user_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".to_owned()))?;
        let (via, scopes) = match &caller.credential {
            Credential::Session(_) => ("session", None),
            Credential::ApiKey { scopes, .. } => (
                "api_key",
                Some(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
            ),
        };
        Ok(Json(Me {
            user: user.into(),
            via: via.to_owned(),
            scopes,
        }))
    }
}

fn session(state: &AppState, user: User, refresh: IssuedRefresh) -> Session {
    Session {
        access_token: state.tokens.issue(user.id, user.role, refresh.family_id),
        refresh_token: refresh.token,
        token_type: "Bearer".to_owned(),
        expires_in: state.tokens.ttl_seconds(),
        user: user.into(),
    }
}
