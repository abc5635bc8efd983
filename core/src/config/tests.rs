use super::*;

fn repo_config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn dir_with(default_overrides: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(repo_config_dir().join("default.toml")).unwrap();
    std::fs::write(dir.path().join("default.toml"), base).unwrap();
    std::fs::write(dir.path().join("production.toml"), default_overrides).unwrap();
    std::fs::write(dir.path().join("development.toml"), default_overrides).unwrap();
    dir
}

#[test]
fn every_shipped_environment_loads() {
    for env in [Environment::Development, Environment::Test] {
        let settings = Settings::load_from(&repo_config_dir(), env).unwrap();
        assert_eq!(settings.environment, Some(env));
    }
}

#[test]
fn production_refuses_the_default_jwt_secret() {
    let err = Settings::load_from(&repo_config_dir(), Environment::Production).unwrap_err();
    assert_eq!(err.key, "jwt.secret");
}

#[test]
fn production_refuses_a_placeholder_secret() {
    let dir = dir_with("[jwt]\nsecret = \"change-me-to-32-or-more-random-characters\"\n");
    let err = Settings::load_from(dir.path(), Environment::Production).unwrap_err();
    assert_eq!(err.key, "jwt.secret");
}

#[test]
fn production_accepts_a_real_secret() {
    let dir = dir_with("[jwt]\nsecret = \"0123456789abcdef0123456789abcdef-prod\"\n");
    let settings = Settings::load_from(dir.path(), Environment::Production).unwrap();
    assert_eq!(settings.http.port, 8080);
}

#[test]
fn a_wrongly_typed_value_names_its_key() {
    let dir = dir_with("[http]\nport = \"eighty\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "http.port", "{err}");
}

#[test]
fn an_unknown_enum_value_names_its_key() {
    let dir = dir_with("[email]\ntransport = \"pigeon\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "email.transport", "{err}");
}

#[test]
fn task_metadata_defaults_to_lean_and_takes_full() {
    let settings = Settings::load_from(&repo_config_dir(), Environment::Development).unwrap();
    assert_eq!(settings.redis.task_metadata, TaskMetadata::Lean);
    let dir = dir_with("[redis]\ntask_metadata = \"full\"\n");
    let settings = Settings::load_from(dir.path(), Environment::Development).unwrap();
    assert_eq!(settings.redis.task_metadata, TaskMetadata::Full);
    let dir = dir_with("[redis]\ntask_metadata = \"thin\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "redis.task_metadata", "{err}");
}

#[test]
fn redis_is_standalone_by_default_and_takes_a_cluster_seed_list() {
    let settings = Settings::load_from(&repo_config_dir(), Environment::Development).unwrap();
    assert_eq!(settings.redis.mode, RedisMode::Standalone);
    assert!(settings.redis.urls.is_empty());
    let dir = dir_with(
        "[redis]\nmode = \"cluster\"\nurls = [\"redis://10.0.0.1:6379\", \"redis://10.0.0.2:6379\"]\n",
    );
    let settings = Settings::load_from(dir.path(), Environment::Development).unwrap();
    assert_eq!(settings.redis.mode, RedisMode::Cluster);
    let seeds = crate::redis::cluster_seeds(&settings.redis);
    assert_eq!(seeds, ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
    let dir = dir_with("[redis]\nmode = \"sentinel\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "redis.mode", "{err}");
}

#[test]
fn a_redis_url_that_does_not_parse_names_its_key() {
    let dir =
        dir_with("[redis]\nmode = \"cluster\"\nurls = [\"redis://10.0.0.1:6379\", \"notaurl\"]\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "redis.urls", "{err}");
    let dir = dir_with("[redis]\nurl = \"http://example.com\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "redis.url", "{err}");
    // An empty entry (`MARQUEE__REDIS__URLS=`) means no seeds: redis.url.
    let dir = dir_with("[redis]\nmode = \"cluster\"\nurls = [\"\"]\n");
    let settings = Settings::load_from(dir.path(), Environment::Development).unwrap();
    assert_eq!(
        crate::redis::cluster_seeds(&settings.redis),
        ["redis://127.0.0.1:6379"]
    );
}

#[test]
fn a_zero_poll_interval_is_refused() {
    // Idle workers would ask Redis for work about every millisecond.
    let dir = dir_with("[worker]\npoll_interval_ms = 0\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "worker.poll_interval_ms", "{err}");
}

#[test]
fn a_key_prefix_with_braces_is_refused() {
    // Braces would end up inside the queues' hash tags.
    let dir = dir_with("[redis]\nkey_prefix = \"app{1}\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "redis.key_prefix", "{err}");
}

#[test]
fn a_value_out_of_range_names_its_key() {
    let dir = dir_with("[worker]\nconcurrency = 0\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "worker.concurrency");
}

#[test]
fn a_bad_cron_expression_names_its_key() {
    let dir = dir_with("[scheduler]\nheartbeat_cron = \"every day\"\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "scheduler.heartbeat_cron");
}

#[test]
fn secrets_never_print() {
    let settings = Settings::load_from(&repo_config_dir(), Environment::Development).unwrap();
    let printed = format!("{settings:?}");
    assert!(!printed.contains(DEV_JWT_SECRET), "{printed}");
    assert!(!printed.contains("postgres://"), "{printed}");
}

#[test]
fn trusted_proxies_are_cidrs_and_a_bad_one_names_its_key() {
    let dir = dir_with("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1/128\"]\n");
    let settings = Settings::load_from(dir.path(), Environment::Development).unwrap();
    assert_eq!(settings.http.trusted_proxies.len(), 2);
    assert!(
        settings.http.trusted_proxies[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap())
    );
    let dir = dir_with("[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert!(err.key.starts_with("http.trusted_proxies"), "{err}");
}

#[test]
fn the_key_cap_must_be_positive() {
    let dir = dir_with("[auth]\nmax_api_keys_per_user = 0\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "auth.max_api_keys_per_user");
}

#[test]
fn an_in_flight_limit_past_what_a_semaphore_holds_names_its_key() {
    // Unchecked, it would panic building the router, not fail the load.
    let dir = dir_with("[http]\nmax_in_flight_requests = 1000001\n");
    let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
    assert_eq!(err.key, "http.max_in_flight_requests");
}

#[test]
fn cors_origins_must_be_bare_origins_or_a_lone_star() {
    for good in [
        "cors_allowed_origins = []",
        "cors_allowed_origins = [\"*\"]",
        "cors_allowed_origins = [\"https://app.example.com\", \"http://127.0.0.1:3000\"]",
    ] {
        let dir = dir_with(&format!("[http]\n{good}\n"));
        Settings::load_from(dir.path(), Environment::Development).unwrap();
    }
    for bad in [
        "[\"*\", \"https://app.example.com\"]",
        "[\"https://app.example.com/\"]",
        "[\"https://APP.example.com\"]",
        "[\"https://app.example.com/path\"]",
        "[\"app.example.com\"]",
        "[\"ftp://app.example.com\"]",
        "[\"https://\"]",
    ] {
        let dir = dir_with(&format!("[http]\ncors_allowed_origins = {bad}\n"));
        let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
        assert_eq!(err.key, "http.cors_allowed_origins", "{bad}: {err}");
    }
}

#[test]
fn the_resend_transport_needs_a_clean_key_and_a_url_with_a_host() {
    for (body, key) in [
        ("[email]\ntransport = \"resend\"\n", "email.resend.api_key"),
        (
            "[email]\ntransport = \"resend\"\n[email.resend]\napi_key = \"re_x\\r\\nX-Evil: 1\"\n",
            "email.resend.api_key",
        ),
        (
            "[email]\ntransport = \"resend\"\n[email.resend]\napi_key = \"   \"\n",
            "email.resend.api_key",
        ),
        (
            "[email.resend]\napi_key = \"re_x\"\nbase_url = \"http://\"\n",
            "email.resend.base_url",
        ),
        (
            "[database]\nacquire_timeout_ms = 0\n",
            "database.acquire_timeout_ms",
        ),
        (
            "[payments]\nreconcile_after_seconds = 60\n",
            "payments.reconcile_after_seconds",
        ),
    ] {
        let dir = dir_with(body);
        let err = Settings::load_from(dir.path(), Environment::Development).unwrap_err();
        assert_eq!(err.key, key, "{body}");
    }
    let dir = dir_with("[email]\ntransport = \"resend\"\n[email.resend]\napi_key = \"re_123\"\n");
    assert!(Settings::load_from(dir.path(), Environment::Development).is_ok());
}
