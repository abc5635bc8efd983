//! Development logs are for people at a terminal: written to a pipe or a
//! file they carry no ANSI colour codes.

use marquee_core::testing::TestContext;
use secrecy::ExposeSecret;

#[tokio::test]
async fn pretty_logs_to_a_pipe_have_no_colour_codes() {
    let ctx = TestContext::new().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_marquee-api"))
        .arg("migrate")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .env("MARQUEE_ENV", "development")
        .env(
            "MARQUEE__DATABASE__URL",
            ctx.settings.database.url.expose_secret(),
        )
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("migrations applied"),
        "the log line is there: {log}"
    );
    assert!(!log.contains('\u{1b}'), "no escape sequences: {log:?}");
}
