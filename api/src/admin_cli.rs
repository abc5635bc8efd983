//! `marquee-api admin create-user`: bootstraps the first admin (or any
//! account) from a shell, where no admin exists yet to grant the role.
//! `marquee-api stats rebuild`: recomputes the analytics rollups.

use marquee_core::Settings;
use marquee_core::auth::{self, NewUser, Passwords, Role};

/// Creates the account with `role`. The password comes from
/// `MARQUEE_ADMIN_PASSWORD`, else from a prompt that does not echo.
pub async fn create_user(
    settings: &Settings,
    email: &str,
    name: &str,
    role: Role,
) -> anyhow::Result<()> {
    let password = match std::env::var("MARQUEE_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => rpassword::prompt_password(format!("password for {email}: "))?,
    };
    let new = NewUser::parse(email, name, &password).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        anyhow::anyhow!("{}", lines.join("; "))
    })?;
    let passwords =
        Passwords::new(&settings.auth).map_err(|e| anyhow::anyhow!("auth.argon2_*: {e}"))?;
    let hash = passwords.hash(&new.password);
    let pool = marquee_core::db::connect(&settings.database).await?;
    marquee_core::db::migrate(&pool).await?;
    let mut tx = pool.begin().await?;
    let user = auth::create_user(&mut *tx, &new, &hash)
        .await?
        .ok_or_else(|| anyhow::anyhow!("an account with email {} already exists", new.email))?;
    auth::assign_role(&mut *tx, user.id, role).await?;
    tx.commit().await?;
    println!(
        "created {} ({}) with role {}",
        new.email,
        user.id,
        role.as_str()
    );
    Ok(())
}

/// Rewrites the analytics rollups from the raw rows.
pub async fn rebuild_stats(settings: &Settings) -> anyhow::Result<()> {
    let pool = marquee_core::db::connect(&settings.database).await?;
    marquee_core::db::migrate(&pool).await?;
    let started = std::time::Instant::now();
    let rows = marquee_core::insights::rebuild(&pool).await?;
    println!(
        "analytics rebuilt: {rows} rollup rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
