//! Content types: what an owner's subscribers receive, one row each.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::check_content_type;
use crate::auth::Invalid;
use crate::tasks::body_problems;

/// A content type and its current content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Its name, unique per owner.
    pub content_type: String,
    /// Subject line of every issue.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Active subscribers now.
    pub subscribers: i64,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A content type's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentInput {
    /// Name.
    pub content_type: String,
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

impl ContentInput {
    /// All problems at once, named as the request's fields.
    pub fn parse(
        content_type: &str,
        subject: &str,
        text: Option<&str>,
        html: Option<&str>,
    ) -> Result<Self, Vec<Invalid>> {
        let (text, html) = (text.unwrap_or_default(), html.unwrap_or_default());
        let mut problems: Vec<Invalid> = check_content_type(content_type, "content_type")
            .into_iter()
            .collect();
        problems.extend(body_problems(
            subject,
            text,
            html,
            ["subject", "text", "html"],
        ));
        if problems.is_empty() {
            Ok(Self {
                content_type: content_type.to_owned(),
                subject: subject.to_owned(),
                text: text.to_owned(),
                html: html.to_owned(),
            })
        } else {
            Err(problems)
        }
    }
}

/// Creates it; `None` when the owner already has one of this name.
pub async fn create(
    pool: &PgPool,
    owner: Uuid,
    input: &ContentInput,
) -> Result<Option<Content>, sqlx::Error> {
    let inserted = sqlx::query!(
        "INSERT INTO subscription_contents (owner_id, content_type, subject, text_body, html_body)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        owner,
        input.content_type,
        input.subject,
        input.text,
        input.html,
    )
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    get(pool, owner, &input.content_type).await
}

/// Replaces its content; `None` when there is no such content type.
pub async fn update(
    pool: &PgPool,
    owner: Uuid,
    input: &ContentInput,
) -> Result<Option<Content>, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE subscription_contents SET subject = $3, text_body = $4, html_body = $5, updated_at = now()
         WHERE owner_id = $1 AND content_type = $2",
        owner,
        input.content_type,
        input.subject,
        input.text,
        input.html,
    )
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    get(pool, owner, &input.content_type).await
}

/// One of the owner's content types.
pub async fn get(
    pool: &PgPool,
    owner: Uuid,
    content_type: &str,
) -> Result<Option<Content>, sqlx::Error> {
    // The subscriber count is a count(*): never null.
    sqlx::query_as!(
        Content,
        r#"SELECT c.content_type, c.subject, c.text_body AS text, c.html_body AS html,
                (SELECT count(*) FROM subscribers s
                  WHERE s.owner_id = c.owner_id AND s.content_type = c.content_type AND s.active)
                  AS "subscribers!",
                c.created_at, c.updated_at
         FROM subscription_contents c
         WHERE c.owner_id = $1 AND c.content_type = $2"#,
        owner,
        content_type,
    )
    .fetch_optional(pool)
    .await
}

/// The owner's content types, by name.
pub async fn list(pool: &PgPool, owner: Uuid) -> Result<Vec<Content>, sqlx::Error> {
    // The same columns as [`get`].
    sqlx::query_as!(
        Content,
        r#"SELECT c.content_type, c.subject, c.text_body AS text, c.html_body AS html,
                (SELECT count(*) FROM subscribers s
                  WHERE s.owner_id = c.owner_id AND s.content_type = c.content_type AND s.active)
                  AS "subscribers!",
                c.created_at, c.updated_at
         FROM subscription_contents c
         WHERE c.owner_id = $1 ORDER BY c.content_type"#,
        owner,
    )
    .fetch_all(pool)
    .await
}

/// Deletes it and its subscribers; `false` when there was none.
pub async fn delete(pool: &PgPool, owner: Uuid, content_type: &str) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM subscription_contents WHERE owner_id = $1 AND content_type = $2",
        owner,
        content_type,
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Whether the owner has it (checked when a subscribe task is submitted).
pub async fn exists(
    conn: impl sqlx::PgExecutor<'_>,
    owner: Uuid,
    content_type: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM subscription_contents WHERE owner_id = $1 AND content_type = $2)
           AS "exists!""#,
        owner,
        content_type,
    )
    .fetch_one(conn)
    .await
}
