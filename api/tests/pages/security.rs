//! Page security over plain HTTP: CSRF on every write, sign-in redirects,
//! roles, the session cookie's attributes, sign-out revoking, the CSP.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};

use crate::common::{TestApp, count, register, with_role};

/// What a browser's navigation asks for.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

/// A cookie-keeping page client that does not follow redirects.
pub struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let raw = header.to_str().unwrap();
            let (pair, _) = raw.split_once(';').unwrap_or((raw, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !raw.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .client
            .get(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .header(ACCEPT, BROWSER_ACCEPT)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// The CSRF token of the page at `path`.
    pub async fn token(&mut self, path: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        let (_, rest) = html
            .split_once("name=\"csrf_token\" value=\"")
            .expect("the page has a form");
        rest.split('"').next().unwrap().to_owned()
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self
            .client
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .header(ACCEPT, BROWSER_ACCEPT)
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// A visitor signed in as `email` (registered with "correct horse").
    pub async fn signed_in(app: &'a TestApp, email: &str) -> Self {
        let mut visitor = Self::new(app);
        let response = visitor.sign_in(email, "correct horse").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        visitor
    }

    /// Posts `form` to `action` with the CSRF token of the page at `page`:
    /// the status, and the redirect's target or else the body.
    pub async fn submit(
        &mut self,
        page: &str,
        action: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let token = self.token(page).await;
        let mut form = form.to_vec();
        form.push(("csrf_token", &token));
        let response = self.post(action, &form).await;
        let status = response.status();
        match response.headers().get(LOCATION) {
            Some(location) => (status, location.to_str().unwrap().to_owned()),
            None => (status, response.text().await.unwrap()),
        }
    }

    /// Signs in through the form.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> reqwest::Response {
        // The sign-up page has a form whether or not someone is signed in.
        let token = self.token("/sign-up").await;
        self.post(
            "/sign-in",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
                ("next", "/bookings"),
            ],
        )
        .await
    }
}

const PASSWORD: &str = "correct horse";

#[tokio::test]
async fn writes_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, event) = crate::common::event_on_sale(&app, 4, 10).await;
    let event = event["id"].as_str().unwrap();
    register(&app, "sam@example.com").await;

    // Before sign-in: the form without its token, and with another's.
    let mut sam = Visitor::new(&app);
    sam.get("/sign-in").await;
    let refused = sam
        .post(
            "/sign-in",
            &[("email", "sam@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("did not come from this site")
    );
    let mut other = Visitor::new(&app);
    let foreign = other.token("/sign-in").await;
    let refused = sam
        .post(
            "/sign-in",
            &[
                ("csrf_token", &foreign),
                ("email", "sam@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!sam.cookies.iter().any(|(n, _)| n == "marquee_session"));

    // Signed in: a hold posted without the token, or with the visitor
    // token from before sign-in, holds nothing.
    let before = sam.token("/sign-in").await;
    assert_eq!(
        sam.sign_in("sam@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let seats = crate::common::seat_ids(&app, event).await;
    for token in [None, Some(before.as_str()), Some("forged")] {
        let mut form = vec![("seat", seats[0].as_str())];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let refused = sam.post(&format!("/events/{event}/holds"), &form).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{token:?}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM holds").await, 0);

    // With it, the hold is made.
    let token = sam.token(&format!("/events/{event}")).await;
    let made = sam
        .post(
            &format!("/events/{event}/holds"),
            &[("csrf_token", &token), ("seat", &seats[0])],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    assert!(
        made.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/holds/")
    );
    assert_eq!(count(&app, "SELECT count(*) FROM holds").await, 1);
}

#[tokio::test]
async fn signed_out_people_are_sent_to_sign_in_and_come_back() {
    let app = TestApp::spawn().await;
    register(&app, "sam@example.com").await;
    let mut sam = Visitor::new(&app);
    for path in ["/bookings", "/tickets", "/organizer", "/ops"] {
        let response = sam.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(
            response.headers()[LOCATION],
            format!("/sign-in?next={next}").as_str()
        );
    }
    let signed_in = sam.sign_in("sam@example.com", PASSWORD).await;
    assert_eq!(signed_in.headers()[LOCATION], "/bookings");
    assert_eq!(sam.get("/bookings").await.status(), StatusCode::OK);

    // Another site as `next` is never followed.
    let mut eve = Visitor::new(&app);
    let token = eve.token("/sign-in").await;
    let response = eve
        .post(
            "/sign-in",
            &[
                ("csrf_token", &token),
                ("email", "sam@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(response.headers()[LOCATION], "/");
    // Browsers drop tabs and newlines from URLs and read `\` as `/`.
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "/ /evil.example",
    ] {
        let mut eve = Visitor::new(&app);
        let token = eve.token("/sign-in").await;
        let response = eve
            .post(
                "/sign-in",
                &[
                    ("csrf_token", &token),
                    ("email", "sam@example.com"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(response.headers()[LOCATION], "/", "{next:?}");
        let again: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let signed_in_already = eve.get(&format!("/sign-in?next={again}")).await;
        assert_eq!(signed_in_already.headers()[LOCATION], "/", "{next:?}");
    }
}

#[tokio::test]
async fn a_form_sent_signed_out_comes_back_to_its_page_after_sign_in() {
    let app = TestApp::spawn().await;
    let (_, event) = crate::common::event_on_sale(&app, 4, 10).await;
    let event = event["id"].as_str().unwrap();
    let seats = crate::common::seat_ids(&app, event).await;
    let mut visitor = Visitor::new(&app);
    let token = visitor.token(&format!("/events/{event}")).await;
    let response = visitor
        .post(
            &format!("/events/{event}/holds"),
            &[("csrf_token", &token), ("seat", &seats[0])],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let next: String =
        form_urlencoded::byte_serialize(format!("/events/{event}").as_bytes()).collect();
    assert_eq!(
        response.headers()[LOCATION],
        format!("/sign-in?next={next}").as_str()
    );
    assert_eq!(count(&app, "SELECT count(*) FROM holds").await, 0);
}

#[tokio::test]
async fn signing_in_over_a_session_revokes_the_one_before() {
    let app = TestApp::spawn().await;
    register(&app, "sam@example.com").await;
    register(&app, "kim@example.com").await;
    let mut shared = Visitor::new(&app);
    shared.sign_in("sam@example.com", PASSWORD).await;
    let sams = shared.cookies.clone();
    shared.sign_in("kim@example.com", PASSWORD).await;
    let mut after = Visitor::new(&app);
    after.cookies = sams;
    assert_eq!(
        after.get("/bookings").await.status(),
        StatusCode::SEE_OTHER,
        "Sam's session is over"
    );
    assert_eq!(shared.get("/bookings").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_plain_user_gets_a_403_page_for_organizer_and_operator_pages() {
    let app = TestApp::spawn().await;
    register(&app, "sam@example.com").await;
    let mut sam = Visitor::new(&app);
    sam.sign_in("sam@example.com", PASSWORD).await;
    for path in ["/organizer", "/ops"] {
        let response = sam.get(path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("<title>Not allowed"), "{html}");
    }
    // An organizer reaches theirs, but not the operators'.
    with_role(
        &app,
        "olga@example.com",
        marquee_core::auth::Role::Organizer,
    )
    .await;
    let mut olga = Visitor::new(&app);
    olga.sign_in("olga@example.com", PASSWORD).await;
    assert_eq!(olga.get("/organizer").await.status(), StatusCode::OK);
    assert_eq!(olga.get("/ops").await.status(), StatusCode::FORBIDDEN);
}

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|h| h.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("marquee_session="))
        .expect("a session cookie")
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_on_the_root_and_dies_on_sign_out() {
    let app = TestApp::spawn().await;
    register(&app, "sam@example.com").await;
    let mut sam = Visitor::new(&app);
    let response = sam.sign_in("sam@example.com", PASSWORD).await;
    let cookie = session_cookie(&response);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http public_url: {cookie}"
    );

    // Sign-out revokes the session itself, not just the cookie: the old
    // value, replayed, is signed out.
    let stolen = sam.cookies.clone();
    let token = sam.token("/bookings").await;
    let out = sam.post("/sign-out", &[("csrf_token", &token)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let mut thief = Visitor::new(&app);
    thief.cookies = stolen;
    assert_eq!(thief.get("/bookings").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL"
        )
        .await,
        1,
        "only the API session from registering is left"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.public_url = "https://tickets.example.com".to_owned();
    let app = TestApp::spawn_with(ctx).await;
    register(&app, "sam@example.com").await;
    let mut sam = Visitor::new(&app);
    let cookie = session_cookie(&sam.sign_in("sam@example.com", PASSWORD).await);
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

#[tokio::test]
async fn every_page_has_a_strict_csp_and_a_title_and_unknown_pages_are_html_404s() {
    let app = TestApp::spawn().await;
    let (_, event) = crate::common::event_on_sale(&app, 4, 10).await;
    let event = event["id"].as_str().unwrap();
    let mut visitor = Visitor::new(&app);
    for (path, status) in [
        ("/", 200),
        ("/events", 200),
        (&format!("/events/{event}") as &str, 200),
        ("/sign-in", 200),
        ("/sign-up", 200),
        ("/licenses", 200),
        ("/no/such/page", 404),
        ("/events/01a24515-35f5-71da-a9d8-66dc0d8ffc6d", 404),
    ] {
        let response = visitor.get(path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        let csp = response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("<title>") && !html.contains("<title> ·"),
            "{path}"
        );
        assert!(
            !html.contains("<script>") && !html.contains(" style="),
            "{path}: inline code"
        );
    }
    // The API keeps its JSON problems.
    let response = app.get("/api/v1/no-such-thing").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
