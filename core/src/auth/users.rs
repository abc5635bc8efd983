//! User accounts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Invalid, Role};

/// A stored account.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Trimmed, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string; never serialised.
    #[serde(skip)]
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// When the address was confirmed.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

/// A sign-up, parsed: every field checked, all problems reported at once.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Trimmed, lower-cased, syntactically valid.
    pub email: String,
    /// Trimmed, 1-100 characters.
    pub name: String,
    /// 8-128 characters.
    pub password: String,
}

/// Password length in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;

impl NewUser {
    /// Parses raw input.
    pub fn parse(email: &str, name: &str, password: &str) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let email = normalise_email(email);
        if email.len() > 254 || email.parse::<email_address::EmailAddress>().is_err() {
            problems.push(Invalid::new("email", "must be a valid email address"));
        }
        let name = name.trim().to_owned();
        if !(1..=100).contains(&name.chars().count()) {
            problems.push(Invalid::new("name", "must be 1-100 characters"));
        }
        if let Err(problem) = check_password("password", password) {
            problems.push(problem);
        }
        if problems.is_empty() {
            Ok(Self {
                email,
                name,
                password: password.to_owned(),
            })
        } else {
            Err(problems)
        }
    }
}

/// Trimmed and lower-cased, the form emails are stored and looked up in.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// 8-128 characters.
pub fn check_password(field: &'static str, password: &str) -> Result<(), Invalid> {
    if PASSWORD_CHARS.contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(Invalid::new(field, "must be 8-128 characters"))
    }
}

/// Inserts a user with role `user`; `None` when the email is taken.
pub async fn create_user(
    db: impl PgExecutor<'_>,
    new: &NewUser,
    password_hash: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING
         RETURNING id, email, name, password_hash, role AS "role: Role", email_verified_at, created_at"#,
        Uuid::now_v7(),
        new.email,
        new.name,
        password_hash,
    )
    .fetch_optional(db)
    .await
}

/// Looks a user up by (normalised) email.
pub async fn find_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"SELECT id, email, name, password_hash, role AS "role: Role", email_verified_at, created_at
         FROM users WHERE email = $1"#,
        normalise_email(email),
    )
    .fetch_optional(db)
    .await
}

/// Looks a user up by id.
pub async fn find_by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"SELECT id, email, name, password_hash, role AS "role: Role", email_verified_at, created_at
         FROM users WHERE id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// One page of every account, oldest first.
pub async fn list_users(
    db: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"SELECT id, email, name, password_hash, role AS "role: Role", email_verified_at, created_at
         FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2"#,
        limit,
        offset,
    )
    .fetch_all(db)
    .await
}

/// How many accounts there are.
pub async fn count_users(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM users"#)
        .fetch_one(db)
        .await
}

/// Gives an account a role without touching the role cache: for an account
/// nobody has used yet (the admin CLI creating it). A live account's role
/// changes through [`super::cache::set_role`], which invalidates the cache.
pub async fn assign_role(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET role = $2 WHERE id = $1",
        user_id,
        role as Role,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces the password hash.
pub async fn set_password(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the account's address was confirmed (false for no account).
pub async fn email_verified(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let verified = sqlx::query_scalar!(
        r#"SELECT email_verified_at IS NOT NULL AS "verified!" FROM users WHERE id = $1"#,
        user_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(verified.unwrap_or(false))
}

/// Records that the account's address is confirmed (a spent verification
/// code; tests and seeding). Keeps the first confirmation time.
pub async fn mark_email_verified(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now()
         WHERE id = $1",
        user_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_reports_every_problem() {
        let user = NewUser::parse("  Ada@Example.COM ", " Ada ", "long enough").unwrap();
        assert_eq!(
            (user.email.as_str(), user.name.as_str()),
            ("ada@example.com", "Ada")
        );
        let problems = NewUser::parse("not-an-email", "", "short").unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["email", "name", "password"]);
        assert!(NewUser::parse("a@b.co", "A", &"x".repeat(129)).is_err());
        assert!(
            NewUser::parse("a@b.co", "A", &"é".repeat(8)).is_ok(),
            "characters, not bytes"
        );
    }
}
