//! Real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; `just test` installs them). Each `Browser` has its
//! own chromedriver on a free loopback port and its own profile, saves
//! screenshots under `target/browser-screenshots/<test>/`, and can list
//! the console's errors (CSP violations among them) and run axe-core.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// At most this many browsers at once: each Chromium is a few hundred MB
/// and a core's worth of work while it loads a page.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// axe-core, vendored as a test fixture (MPL-2.0).
const AXE: &str = include_str!("../fixtures/axe-core/axe.min.js");

pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: Child,
    driver_url: String,
    session: String,
    shots: PathBuf,
    taken: AtomicUsize,
    _profile: tempfile::TempDir,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `target/`: the test binary lives in `target/debug/deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

impl Browser {
    /// A fresh browser on `base` (the app's URL); screenshots go to
    /// `target/browser-screenshots/<test>/`.
    pub async fn open(base: &str, test: &str) -> Self {
        let slot = SLOTS.acquire().await.unwrap();
        let port = free_port();
        // Its own process group, with the Chromium it starts: one signal
        // ends both, even when a failed test never closes the session.
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; `just test` installs it)");
        let driver_url = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": profile.path().join("downloads").display().to_string(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        caps.insert("goog:loggingPrefs".to_owned(), json!({"browser": "ALL"}));
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&driver_url)
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("chromedriver did not start a session: {error}"),
            }
        };
        let session = client.session_id().await.unwrap().expect("a session id");
        let shots = target_dir().join("browser-screenshots").join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            driver,
            driver_url,
            session,
            shots,
            taken: AtomicUsize::new(0),
            _profile: profile,
            _slot: slot,
        }
    }

    /// Where downloads land.
    pub fn downloads(&self) -> PathBuf {
        self._profile.path().join("downloads")
    }

    /// Opens `path` on the app.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits up to 10 s for `css` to exist.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Every element matching `css` now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks `css`; a part of the page redrawn under the click (a live
    /// update) is found again.
    pub async fn click(&self, css: &str) {
        for _ in 0..20 {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
        panic!("{css} kept being redrawn");
    }

    /// Clicks the link whose text is `text`.
    pub async fn click_link(&self, text: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("no link {text:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits up to `within` for the text of `css` to contain `wanted`;
    /// returns the text.
    pub async fn wait_text(&self, css: &str, wanted: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            if Instant::now() > deadline {
                self.shot("timeout").await;
                panic!("{css} never said {wanted:?} within {within:?}; last: {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `within` until `check` of the page's JS (an expression)
    /// is true.
    pub async fn wait_js(&self, expression: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let value = self
                .client
                .execute(&format!("return !!({expression});"), vec![])
                .await
                .unwrap();
            if value == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                self.shot("timeout").await;
                panic!("{expression} stayed false for {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Saves a screenshot as `NN-label.png` and returns its path.
    pub async fn shot(&self, label: &str) -> PathBuf {
        let n = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{n:02}-{label}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The browser console's entries since the last call (chromedriver's
    /// log endpoint): level and message.
    pub async fn console(&self) -> Vec<(String, String)> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session);
        let answer: Value = reqwest::Client::new()
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or_default().to_owned(),
                    e["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Panics if the console reported a Content-Security-Policy violation.
    pub async fn assert_no_csp_violations(&self) {
        let violations: Vec<String> = self
            .console()
            .await
            .into_iter()
            .map(|(_, message)| message)
            .filter(|m| {
                m.contains("Content Security Policy") || m.contains("Content-Security-Policy")
            })
            .collect();
        assert!(violations.is_empty(), "CSP violations: {violations:#?}");
    }

    /// Runs axe-core on the page; returns the serious and critical
    /// violations as "rule: description (n nodes)".
    pub async fn axe(&self) -> Vec<String> {
        // WebDriver scripts run outside the page's CSP.
        self.client.execute(AXE, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({
                     id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' ')) }))));",
                vec![],
            )
            .await
            .unwrap();
        result
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| format!("{}: {} {}", v["id"], v["help"], v["nodes"]))
            .collect()
    }

    /// Ends the session, Chromium and its chromedriver.
    pub async fn close(self) {
        // Chromium sometimes never answers the session's end; the drop
        // below kills it either way.
        let closing = self.client.clone().close();
        if tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .is_err()
        {
            eprintln!("browser: the session did not close within 5 s; killing it");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test never reaches `close`: never leave a browser behind.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        // Reap it without ever blocking the test's runtime for long.
        for _ in 0..50 {
            if !matches!(self.driver.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
