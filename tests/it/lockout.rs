//! Logins under concurrency: guesses in flight cannot beat the account
//! lockout, and a flood past the password-hashing queue is shed with 503
//! `busy` instead of queueing without bound.

use std::time::Duration;

use kiln_api::Role;
use kiln_jobs::{Config, testing::Backend};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, spawn_app_with};

/// Production's argon2 cost, so a verification takes as long as it would
/// there and concurrent guesses really are in flight together.
fn production_cost(c: &mut Config) {
    c.auth.argon2_memory_kib = 19 * 1024;
    c.auth.argon2_iterations = 2;
}

/// `kiln_password_verifications_total{kind}` of the app's registry.
fn verifications(app: &TestApp, kind: &str) -> u64 {
    metric(
        app,
        &format!("kiln_password_verifications_total{{kind=\"{kind}\"}}"),
    )
}

fn metric(app: &TestApp, series: &str) -> u64 {
    app.ctx
        .app
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Sends a login from a task of its own; returns the status.
fn spawn_login(app: &TestApp, email: &str, password: &str) -> tokio::task::JoinHandle<u16> {
    let (http, url) = (app.http.clone(), app.url("/v1/auth/login"));
    let body = json!({"email": email, "password": password});
    tokio::spawn(async move {
        let resp = http.post(url).json(&body).send().await.expect("login");
        resp.status().as_u16()
    })
}

kiln_jobs::per_backend!(
    concurrent_guesses_cannot_beat_the_lockout,
    [sqlite, postgres]
);
async fn concurrent_guesses_cannot_beat_the_lockout(kind: Backend) {
    let app = spawn_app_with(kind, false, |c| {
        production_cost(c);
        c.auth.lockout_threshold = 5;
        c.auth.lockout_secs = 5;
        c.auth.argon2_permits = Some(4);
        c.auth.argon2_queue = Some(64);
    })
    .await;
    let email = "dave@example.com";
    let dave = app
        .ctx
        .app
        .identity
        .create_user(email, PASSWORD, Role::User)
        .await
        .expect("user");
    let checked_before = verifications(&app, "account");

    // 19 wrong guesses in flight, then the right password while they still are.
    let guesses: Vec<_> = (0..19)
        .map(|i| spawn_login(&app, email, &format!("wrong guess number {i}")))
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let right = app.login(email, PASSWORD).await.status().as_u16();
    for g in guesses {
        assert_eq!(g.await.expect("join"), 401, "{kind:?}: a wrong guess");
    }
    assert_eq!(right, 401, "{kind:?}: the right password among the guesses");
    let checked = verifications(&app, "account") - checked_before;
    assert!(
        (1..=5).contains(&checked),
        "{kind:?}: {checked} passwords were checked, the threshold is 5"
    );

    // Locked: every login fails, the right password included, and none is
    // checked against the account's hash.
    let until = app
        .ctx
        .app
        .identity
        .user(dave.id)
        .await
        .expect("user")
        .locked_until
        .expect("the account is locked");
    let dummies_before = verifications(&app, "dummy");
    let mut refused = 0;
    while chrono::Utc::now() + chrono::Duration::milliseconds(500) < until {
        let resp = app.login(email, PASSWORD).await;
        assert_eq!(
            error_code(resp, 401).await,
            "invalid_credentials",
            "{kind:?}: login {refused} while locked"
        );
        refused += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused > 0, "the lock lasted long enough to try");
    assert_eq!(verifications(&app, "account") - checked_before, checked);
    assert_eq!(verifications(&app, "dummy") - dummies_before, refused);

    // The window ends and the right password works again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if app.login(email, PASSWORD).await.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still locked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

kiln_jobs::per_backend!(
    a_login_flood_past_the_hashing_queue_gets_503_busy,
    [sqlite, postgres]
);
async fn a_login_flood_past_the_hashing_queue_gets_503_busy(kind: Backend) {
    let app = spawn_app_with(kind, false, |c| {
        production_cost(c);
        c.auth.argon2_permits = Some(1);
        c.auth.argon2_queue = Some(1);
    })
    .await;
    let email = "erin@example.com";
    app.ctx
        .app
        .identity
        .create_user(email, PASSWORD, Role::User)
        .await
        .expect("user");

    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (http, url) = (app.http.clone(), app.url("/v1/auth/login"));
            let body = json!({"email": email, "password": PASSWORD});
            tokio::spawn(async move {
                let send = http.post(url).json(&body).send();
                tokio::time::timeout(Duration::from_secs(30), send)
                    .await
                    .expect("no login hangs")
                    .expect("login")
            })
        })
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for f in flood {
        let resp = f.await.expect("join");
        if resp.status() == 200 {
            ok += 1;
            continue;
        }
        let retry: u64 = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in whole seconds");
        assert!(retry >= 1, "{retry}");
        assert_eq!(error_code(resp, 503).await, "busy", "{kind:?}");
        busy += 1;
    }
    assert!(ok >= 1, "{kind:?}: the permit and the queue served someone");
    assert!(
        busy >= 1,
        "{kind:?}: one permit and one place cannot take 16 at once"
    );
    assert_eq!(metric(&app, "kiln_password_busy_total"), busy);

    // The queue drains: the next login is served.
    assert_eq!(app.login(email, PASSWORD).await.status(), 200);

    // The 503 is part of the documented answers of the operations that hash.
    let spec: Value = serde_json::from_str(&kiln_api::spec_json()).expect("spec");
    for path in ["/v1/auth/login", "/v1/auth/register"] {
        let busy = &spec["paths"][path]["post"]["responses"]["503"];
        let headers = busy["headers"].as_object().expect("503 headers");
        assert!(
            headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("retry-after")),
            "{path}: {busy}"
        );
    }
    app.stop().await;
}
