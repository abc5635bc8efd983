//! Bad configuration stops every binary with a non-zero exit and one line
//! naming the key.

use std::process::Command;

fn run(binary: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(binary);
    command
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .env_remove("MARQUEE_ENV");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_non_numeric_port_names_http_port() {
    let (code, stderr) = run(
        env!("CARGO_BIN_EXE_marquee-api"),
        &[("MARQUEE__HTTP__PORT", "eighty")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("http.port"), "{stderr}");
}

#[test]
fn production_without_a_jwt_secret_refuses_to_start() {
    let (code, stderr) = run(
        env!("CARGO_BIN_EXE_marquee-api"),
        &[("MARQUEE_ENV", "production")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("jwt.secret"), "{stderr}");
}

#[test]
fn an_unknown_environment_is_named() {
    let (code, stderr) = run(
        env!("CARGO_BIN_EXE_marquee-api"),
        &[("MARQUEE_ENV", "staging")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("MARQUEE_ENV"), "{stderr}");
}
