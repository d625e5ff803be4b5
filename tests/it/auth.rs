//! Identity: accounts, tokens, refresh rotation, lockout, API keys, roles,
//! and the rule that every non-public operation needs credentials.

use std::time::Duration;

use kiln_api::{AuthKeysBuilder, Claims, Role};
use kiln_jobs::{db::DbKind, testing::Backend};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, fixture, spawn_app_with};

async fn app(backend: impl Into<Backend>) -> TestApp {
    spawn_app_with(backend, false, |_| {}).await
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn audit_actions(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let page: Value = app
        .send_as(
            Method::GET,
            &format!("/v1/audit-log?action={action}"),
            admin,
            None,
        )
        .await
        .json()
        .await
        .expect("audit page");
    page["items"].as_array().expect("items").clone()
}

kiln_jobs::per_backend!(register_login_me_refresh_and_logout, [sqlite, postgres]);
async fn register_login_me_refresh_and_logout(kind: Backend) {
    let app = app(kind).await;
    let creds = json!({"email": "Alice@Example.com", "password": PASSWORD});
    let resp = app.post_json("/v1/auth/register", None, &creds).await;
    assert_eq!(resp.status(), 201, "{kind:?}");
    let user: Value = resp.json().await.expect("user");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["role"], "user");

    // The same address in another case is taken; weak passwords are refused.
    let dup = json!({"email": "ALICE@example.com", "password": PASSWORD});
    let resp = app.post_json("/v1/auth/register", None, &dup).await;
    assert_eq!(error_code(resp, 409).await, "email_taken");
    for password in ["short", "bob@example.com", "aaaaaaaaaaaaaaaaaaaa"] {
        let weak = json!({"email": "bob@example.com", "password": password});
        let resp = app.post_json("/v1/auth/register", None, &weak).await;
        assert_eq!(
            error_code(resp, 422).await,
            "validation_failed",
            "{password}"
        );
    }
    let bad_email = json!({"email": "not-an-email", "password": PASSWORD});
    let resp = app.post_json("/v1/auth/register", None, &bad_email).await;
    assert_eq!(error_code(resp, 422).await, "validation_failed");

    let tokens: Value = app
        .login("alice@EXAMPLE.com", PASSWORD)
        .await
        .json()
        .await
        .expect("tokens");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = s(&tokens["access_token"]).to_owned();
    let me: Value = app
        .send_as(Method::GET, "/v1/me", &access, None)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["id"], user["id"]);

    // The access token carries every claim the issue names, with a kid.
    let header = jsonwebtoken::decode_header(&access).expect("header");
    assert_eq!(header.kid.as_deref(), Some("default"));
    let claims = app.keys.verify(&access).expect("valid");
    assert_eq!(claims.sub, s(&user["id"]));
    assert_eq!(
        (claims.iss.as_str(), claims.aud.as_str()),
        ("kiln", "kiln-api")
    );
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(!claims.jti.is_empty());

    // Refresh rotates: a new refresh token every time.
    let first = s(&tokens["refresh_token"]).to_owned();
    let resp = app
        .post_json("/v1/auth/refresh", None, &json!({"refresh_token": first}))
        .await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.expect("tokens");
    let second_refresh = s(&second["refresh_token"]).to_owned();
    assert_ne!(second_refresh, first);

    // Logging out ends that session: its refresh token no longer works.
    let resp = app
        .post_json(
            "/v1/auth/logout",
            Some(s(&second["access_token"])),
            &json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .post_json(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(error_code(resp, 401).await, "invalid_refresh_token");
    app.stop().await;
}

kiln_jobs::per_backend!(
    reusing_a_refresh_token_revokes_the_family_and_is_audited,
    [sqlite, postgres]
);
async fn reusing_a_refresh_token_revokes_the_family_and_is_audited(kind: Backend) {
    let app = app(kind).await;
    let admin = app.account("root@example.com", Role::Admin).await;
    let admin = s(&admin["access_token"]).to_owned();
    let login = app.account("carol@example.com", Role::User).await;
    let first = s(&login["refresh_token"]).to_owned();
    let rotated: Value = app
        .post_json("/v1/auth/refresh", None, &json!({"refresh_token": first}))
        .await
        .json()
        .await
        .expect("rotated");
    let current = s(&rotated["refresh_token"]).to_owned();

    // A thief replays the used token: refused, and the whole family ends,
    // including the token the real client holds now.
    let resp = app
        .post_json("/v1/auth/refresh", None, &json!({"refresh_token": first}))
        .await;
    assert_eq!(
        error_code(resp, 401).await,
        "invalid_refresh_token",
        "{kind:?}"
    );
    let resp = app
        .post_json("/v1/auth/refresh", None, &json!({"refresh_token": current}))
        .await;
    assert_eq!(error_code(resp, 401).await, "invalid_refresh_token");
    let reuse = audit_actions(&app, &admin, "refresh_token_reuse").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_eq!(reuse[0]["subject"], login["user"]["id"]);
    assert_eq!(reuse[0]["details"]["revoked"], 2);
    assert!(reuse[0]["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"));

    // A tampered token is simply invalid; a second login still works.
    let mut tampered = current.clone();
    tampered.push('x');
    let resp = app
        .post_json(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": tampered}),
        )
        .await;
    assert_eq!(error_code(resp, 401).await, "invalid_refresh_token");
    assert_eq!(app.login("carol@example.com", PASSWORD).await.status(), 200);
    app.stop().await;
}

kiln_jobs::per_backend!(
    five_failed_logins_lock_the_account_until_the_window_passes,
    [sqlite, postgres]
);
async fn five_failed_logins_lock_the_account_until_the_window_passes(kind: Backend) {
    let app = spawn_app_with(kind, false, |c| c.auth.lockout_secs = 2).await;
    let admin = app.account("root@example.com", Role::Admin).await;
    let admin = s(&admin["access_token"]).to_owned();
    app.ctx
        .app
        .identity
        .create_user("dave@example.com", PASSWORD, Role::User)
        .await
        .expect("user");

    let unknown: Value = app
        .login("nobody@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("body");
    for attempt in 1..=5 {
        let resp = app.login("dave@example.com", "wrong password!!").await;
        assert_eq!(resp.status(), 401, "attempt {attempt}");
    }
    // Locked: the right password is refused with exactly the answer an
    // unknown account gets, so the response reveals nothing.
    let resp = app.login("dave@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 401, "{kind:?}");
    let locked: Value = resp.json().await.expect("body");
    assert_eq!(locked["code"], unknown["code"]);
    assert_eq!(locked["message"], unknown["message"]);
    let locks = audit_actions(&app, &admin, "account_locked").await;
    assert_eq!(locks.len(), 1, "{locks:?}");

    // After the window the right password works again.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = app.login("dave@example.com", PASSWORD).await;
        if resp.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "still locked");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let failures = audit_actions(&app, &admin, "login_failed").await;
    assert!(failures.len() >= 7, "{}", failures.len());
    app.stop().await;
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_get_401() {
    let dir = format!("{}/tests/fixtures/jwt", env!("CARGO_MANIFEST_DIR"));
    let pem = |name: &str| std::fs::read(format!("{dir}/{name}")).expect("fixture key");
    let app = spawn_app_with(DbKind::Sqlite, false, |_| {}).await;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |exp: u64, aud: &str| Claims {
        sub: "alice".into(),
        role: Role::Admin,
        jti: "j1".into(),
        iat: now,
        exp,
        iss: "kiln".into(),
        aud: aud.into(),
    };
    let good = app.keys.sign(&claims(now + 600, "kiln-api")).expect("sign");
    let expired = app.keys.sign(&claims(now - 60, "kiln-api")).expect("sign");
    let wrong_aud = app
        .keys
        .sign(&claims(now + 600, "another-api"))
        .expect("sign");
    let other_secret = kiln_api::AuthKeys::hs256(
        b"another-secret-another-secret-another!",
        "kiln",
        "kiln-api",
    )
    .sign(&claims(now + 600, "kiln-api"))
    .expect("sign");
    // alg=none: a header naming no algorithm and an empty signature.
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let body = serde_json::to_value(claims(now + 600, "kiln-api")).expect("claims");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&body)
    );
    // HS256 signed with the (public) EdDSA key of kid `ed`: algorithm confusion.
    let confused = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("ed".into());
        jsonwebtoken::encode(
            &h,
            &body,
            &jsonwebtoken::EncodingKey::from_secret(&pem("ed25519.pub.pem")),
        )
        .expect("encode")
    };
    // Signed by an EdDSA key nobody configured, under a known kid.
    let foreign_ed = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = Some("ed".into());
        jsonwebtoken::encode(
            &h,
            &body,
            &jsonwebtoken::EncodingKey::from_ed_pem(&pem("other-ed25519.pem")).expect("pem"),
        )
        .expect("encode")
    };
    let unknown_kid = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("retired".into());
        jsonwebtoken::encode(
            &h,
            &body,
            &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
        )
        .expect("encode")
    };
    for (name, token) in [
        ("other secret", other_secret.as_str()),
        ("expired", &expired),
        ("wrong audience", &wrong_aud),
        ("alg none", &none),
        ("hs/eddsa confusion", &confused),
        ("foreign eddsa key", &foreign_ed),
        ("unknown kid", &unknown_kid),
        ("garbage", "not.a.jwt"),
    ] {
        let resp = app
            .http
            .get(app.url("/v1/jobs"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        assert_eq!(error_code(resp, 401).await, "unauthorized", "{name}");
    }
    let resp = app
        .http
        .get(app.url("/v1/jobs"))
        .bearer_auth(&good)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);

    // Key rotation: tokens of the old key verify while the new key signs.
    let ed = |kid: &str, signing: bool| {
        let b = AuthKeysBuilder::new("kiln", "kiln-api");
        let enc = signing
            .then(|| jsonwebtoken::EncodingKey::from_ed_pem(&pem("ed25519.pem")).expect("pem"));
        b.key(
            kid,
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::DecodingKey::from_ed_pem(&pem("ed25519.pub.pem")).expect("pem"),
            enc,
        )
    };
    let rotated = ed("ed", true)
        .hs256("default", crate::helpers::SECRET, false)
        .build();
    let new_token = rotated.mint("alice", Role::User, 60).expect("mint");
    assert_eq!(
        jsonwebtoken::decode_header(&new_token).expect("h").alg,
        jsonwebtoken::Algorithm::EdDSA
    );
    assert!(rotated.verify(&new_token).is_some());
    assert!(
        rotated.verify(&good).is_some(),
        "the old HS256 key still verifies"
    );
    assert!(rotated.verify(&confused).is_none());
    assert!(rotated.verify(&foreign_ed).is_none());
    assert!(
        app.keys.verify(&new_token).is_none(),
        "unknown kid elsewhere"
    );
    app.stop().await;
}

kiln_jobs::per_backend!(
    roles_cannot_be_escalated_and_the_last_admin_stays,
    [sqlite, postgres]
);
async fn roles_cannot_be_escalated_and_the_last_admin_stays(kind: Backend) {
    let app = app(kind).await;
    let admin = app.account("root@example.com", Role::Admin).await;
    let (admin_token, admin_id) = (
        s(&admin["access_token"]).to_owned(),
        s(&admin["user"]["id"]).to_owned(),
    );
    let user = app.account("erin@example.com", Role::User).await;
    let (token, id) = (
        s(&user["access_token"]).to_owned(),
        s(&user["user"]["id"]).to_owned(),
    );

    // A user cannot promote themselves, list users or read the audit log.
    let promote = json!({"role": "admin"});
    let resp = app
        .send_as(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            &token,
            Some(&promote),
        )
        .await;
    assert_eq!(error_code(resp, 403).await, "forbidden", "{kind:?}");
    for path in ["/v1/users", "/v1/audit-log", "/v1/queues"] {
        let resp = app.send_as(Method::GET, path, &token, None).await;
        assert_eq!(error_code(resp, 403).await, "forbidden", "{path}");
    }
    // Registration cannot carry a role.
    let sneaky = json!({"email": "mallory@example.com", "password": PASSWORD, "role": "admin"});
    let resp = app.post_json("/v1/auth/register", None, &sneaky).await;
    assert_eq!(error_code(resp, 400).await, "bad_request");
    // Nor can an API key carry scopes beyond the role.
    let key = json!({"name": "ops", "scopes": ["queues:admin"]});
    let resp = app.post_json("/v1/api-keys", Some(&token), &key).await;
    assert_eq!(error_code(resp, 422).await, "validation_failed");

    // An admin promotes; the change is audited and the new role applies
    // from the next login.
    let resp = app
        .send_as(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            &admin_token,
            Some(&json!({"role": "operator"})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let changed = audit_actions(&app, &admin_token, "role_changed").await;
    assert_eq!(changed[0]["actor"], admin_id.as_str());
    assert_eq!(changed[0]["subject"], id.as_str());
    assert_eq!(
        changed[0]["details"],
        json!({"from": "user", "to": "operator"})
    );
    let relogin: Value = app
        .login("erin@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("tokens");
    let resp = app
        .send_as(Method::GET, "/v1/queues", s(&relogin["access_token"]), None)
        .await;
    assert_eq!(resp.status(), 200);

    // The last admin can neither demote nor disable themselves.
    for patch in [json!({"role": "user"}), json!({"disabled": true})] {
        let resp = app
            .send_as(
                Method::PATCH,
                &format!("/v1/users/{admin_id}"),
                &admin_token,
                Some(&patch),
            )
            .await;
        assert_eq!(error_code(resp, 409).await, "conflict");
    }
    let resp = app
        .send_as(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            &admin_token,
            Some(&json!({"role": "root"})),
        )
        .await;
    assert_eq!(error_code(resp, 400).await, "bad_request");

    // Disabling ends the user's sessions and logins.
    let resp = app
        .send_as(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            &admin_token,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post_json(
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": s(&relogin["refresh_token"])}),
        )
        .await;
    assert_eq!(error_code(resp, 401).await, "invalid_refresh_token");
    assert_eq!(app.login("erin@example.com", PASSWORD).await.status(), 401);
    let missing = uuid::Uuid::now_v7();
    let resp = app
        .send_as(
            Method::GET,
            &format!("/v1/users/{missing}"),
            &admin_token,
            None,
        )
        .await;
    assert_eq!(error_code(resp, 404).await, "not_found");
    app.stop().await;
}

kiln_jobs::per_backend!(
    api_keys_are_shown_once_scoped_and_revocable,
    [sqlite, postgres]
);
async fn api_keys_are_shown_once_scoped_and_revocable(kind: Backend) {
    let app = spawn_app_with(kind, true, |_| {}).await;
    let owner = app.account("frank@example.com", Role::User).await;
    let token = s(&owner["access_token"]).to_owned();
    let other = app.account("grace@example.com", Role::User).await;
    let other_token = s(&other["access_token"]).to_owned();

    let resp = app
        .post_json(
            "/v1/api-keys",
            Some(&token),
            &json!({"name": "ci", "scopes": ["media:read", "jobs:read"]}),
        )
        .await;
    assert_eq!(resp.status(), 201, "{kind:?}");
    let created: Value = resp.json().await.expect("key");
    let key = s(&created["key"]).to_owned();
    assert!(key.starts_with(s(&created["prefix"])), "{created}");
    let with_key =
        |m: Method, path: &str| app.http.request(m, app.url(path)).header("X-API-Key", &key);

    // In scope: reading jobs and /me. Out of scope: uploads and cancels.
    let resp = with_key(Method::GET, "/v1/jobs")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let me: Value = with_key(Method::GET, "/v1/me")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("me");
    assert_eq!(me["email"], "frank@example.com");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(fixture("alpha_300x200.png")).file_name("a.png"),
    );
    let resp = with_key(Method::POST, "/v1/media")
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 403).await, "insufficient_scope");
    let job = uuid::Uuid::now_v7();
    let resp = with_key(Method::POST, &format!("/v1/jobs/{job}/cancel"))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 403).await, "insufficient_scope");
    // A key cannot manage keys.
    let resp = with_key(Method::POST, "/v1/api-keys")
        .json(&json!({"name": "more", "scopes": ["media:read"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 401).await, "unauthorized");
    // One key was made; the refused attempt made none.
    let metrics = app.metrics().await;
    assert_eq!(
        crate::helpers::metric_value(&metrics, "kiln_api_keys_created_total", &[]),
        Some(1.0),
        "{metrics}"
    );

    // Listed without the key itself, with its last use recorded.
    let list: Value = app
        .send_as(Method::GET, "/v1/api-keys", &token, None)
        .await
        .json()
        .await
        .expect("list");
    let item = &list["items"][0];
    assert!(item.get("key").is_none(), "{item}");
    assert!(!list.to_string().contains(&key));
    assert!(item["last_used_at"].is_string(), "{item}");
    assert_eq!(item["scopes"], json!(["media:read", "jobs:read"]));

    // Another user's key id is 404; the owner revokes it; then it is refused.
    let id = s(&created["id"]).to_owned();
    let resp = app
        .send_as(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            &other_token,
            None,
        )
        .await;
    assert_eq!(error_code(resp, 404).await, "not_found");
    let resp = app
        .send_as(Method::DELETE, &format!("/v1/api-keys/{id}"), &token, None)
        .await;
    assert_eq!(resp.status(), 204);
    let resp = with_key(Method::GET, "/v1/jobs")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 401).await, "unauthorized");
    let resp = app
        .http
        .get(app.url("/v1/jobs"))
        .header("X-API-Key", "kiln_bogus_key")
        .send()
        .await
        .expect("send");
    assert_eq!(error_code(resp, 401).await, "unauthorized");

    // Another user's media is 404 through a key as through a token.
    let upload: Value = app
        .upload("ignored", "b.png", fixture("alpha_300x200.png"), None)
        .await
        .json()
        .await
        .expect("upload");
    let media = s(&upload["media_id"]).to_owned();
    let resp = app
        .send_as(
            Method::GET,
            &format!("/v1/media/{media}"),
            &other_token,
            None,
        )
        .await;
    assert_eq!(error_code(resp, 404).await, "not_found");
    app.stop().await;
}

/// Every operation in the OpenAPI document, called without credentials,
/// answers 401, except the few that are public by design.
#[tokio::test]
async fn every_operation_needs_credentials_except_the_public_ones() {
    const PUBLIC: [&str; 7] = [
        "auth_register",
        "auth_login",
        "auth_refresh",
        "health_live",
        "health_ready",
        "health_startup",
        "health",
    ];
    let app = app(DbKind::Sqlite).await;
    let spec: Value = serde_json::from_str(&kiln_api::spec_json()).expect("spec");
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let id = s(&op["operationId"]);
            let url = path
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{queue}", "media")
                .replace("{name}", "thumb.webp");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let resp = app
                .http
                .request(m, app.url(&url))
                .send()
                .await
                .expect("send");
            if PUBLIC.contains(&id) {
                assert_ne!(resp.status(), 401, "{id} is public");
                assert_eq!(
                    op["security"],
                    Value::Array(Vec::new()),
                    "{id} declares that it needs no credentials"
                );
                continue;
            }
            assert_eq!(
                error_code(resp, 401).await,
                "unauthorized",
                "{method} {path} ({id})"
            );
            assert!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                "{id} declares its security scheme"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "walked {checked} protected operations");
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["ApiKeyAuth"]["name"], "X-API-Key");
    app.stop().await;
}

/// Past its burst a principal gets 429 with Retry-After in the error shape,
/// counted per user (bearer) or per key, never per unverified input.
#[tokio::test]
async fn a_principal_over_its_limit_gets_429_and_others_do_not() {
    let app = spawn_app_with(DbKind::Sqlite, false, |c| {
        c.rate_limit.principal_per_minute = 2;
        c.rate_limit.principal_burst = 3;
    })
    .await;
    let alice = app.account("alice@example.com", Role::User).await;
    let bob = app.account("bob@example.com", Role::User).await;
    let alice = s(&alice["access_token"]).to_owned();
    for n in 1..=3 {
        let resp = app.send_as(Method::GET, "/v1/me", &alice, None).await;
        assert_eq!(resp.status(), 200, "call {n}");
    }
    let resp = app.send_as(Method::GET, "/v1/me", &alice, None).await;
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!((1..=30).contains(&retry), "one token every 30 s: {retry}");
    assert_eq!(error_code(resp, 429).await, "too_many_requests");
    let resp = app
        .send_as(Method::GET, "/v1/me", s(&bob["access_token"]), None)
        .await;
    assert_eq!(resp.status(), 200, "another user has their own budget");
    app.stop().await;
}

kiln_jobs::per_backend!(
    concurrent_refreshes_of_one_token_leave_no_live_token,
    [sqlite, postgres]
);
/// Eight clients refresh the same token at once, over several rounds: one
/// wins, the others are reuse and revoke the family, and the token the winner
/// got (issued while the revocation ran) is revoked with it.
async fn concurrent_refreshes_of_one_token_leave_no_live_token(kind: Backend) {
    let app = app(kind).await;
    let email = "frank@example.com";
    app.ctx
        .app
        .identity
        .create_user(email, PASSWORD, Role::User)
        .await
        .expect("user");
    for round in 0..10 {
        let login: Value = app
            .login(email, PASSWORD)
            .await
            .json()
            .await
            .expect("tokens");
        let token = s(&login["refresh_token"]).to_owned();
        let refreshes: Vec<_> = (0..8)
            .map(|_| {
                let (http, url) = (app.http.clone(), app.url("/v1/auth/refresh"));
                let body = json!({"refresh_token": token});
                tokio::spawn(async move {
                    let resp = http.post(url).json(&body).send().await.expect("refresh");
                    let status = resp.status().as_u16();
                    (status, resp.json::<Value>().await.expect("JSON body"))
                })
            })
            .collect();
        let mut issued = Vec::new();
        for r in refreshes {
            match r.await.expect("join") {
                (200, body) => issued.push(s(&body["refresh_token"]).to_owned()),
                (401, body) => assert_eq!(body["code"], "invalid_refresh_token"),
                (status, body) => panic!("{kind:?} round {round}: {status} {body}"),
            }
        }
        assert_eq!(issued.len(), 1, "{kind:?} round {round}: one refresh wins");
        let resp = app
            .post_json(
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": issued[0]}),
            )
            .await;
        assert_eq!(
            error_code(resp, 401).await,
            "invalid_refresh_token",
            "{kind:?} round {round}: the winner's new token died with its family"
        );
    }
    app.stop().await;
}

kiln_jobs::per_backend!(
    admins_demoting_each_other_at_once_leave_one_admin,
    [sqlite, postgres]
);
/// Six admins each demote or disable the next one, all at once: every change
/// but the one that would leave no admin goes through, and that one gets 409.
async fn admins_demoting_each_other_at_once_leave_one_admin(kind: Backend) {
    let app = app(kind).await;
    let mut admins = Vec::new();
    for i in 0..6 {
        let user = app
            .ctx
            .app
            .identity
            .create_user(&format!("admin{i}@example.com"), PASSWORD, Role::Admin)
            .await
            .expect("admin");
        admins.push(user.id.to_string());
    }
    let changes: Vec<_> = (0..admins.len())
        .map(|i| {
            let target = &admins[(i + 1) % admins.len()];
            let patch = if i % 2 == 0 {
                json!({"role": "user"})
            } else {
                json!({"disabled": true})
            };
            let req = app
                .http
                .patch(app.url(&format!("/v1/users/{target}")))
                .bearer_auth(app.token_as(&admins[i], Role::Admin))
                .json(&patch);
            tokio::spawn(async move { req.send().await.expect("patch") })
        })
        .collect();
    let (mut done, mut refused) = (0, 0);
    for c in changes {
        let resp = c.await.expect("join");
        if resp.status() == 200 {
            done += 1;
        } else {
            assert_eq!(error_code(resp, 409).await, "conflict", "{kind:?}");
            refused += 1;
        }
    }
    let users = app.ctx.app.identity.users(None, 100).await.expect("users");
    let enabled_admins = users
        .iter()
        .filter(|u| u.role == "admin" && !u.disabled)
        .count();
    assert_eq!(enabled_admins, 1, "{kind:?}: one enabled admin remains");
    assert_eq!((done, refused), (5, 1), "{kind:?}");
    app.stop().await;
}
