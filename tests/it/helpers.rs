use std::time::Duration;

use kiln_api::{AuthKeys, Role};
use kiln_jobs::{
    Config, JobStatus, QueueName,
    testing::{Backend, TestContext},
};
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio_util::sync::CancellationToken;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// The password of accounts made by [`TestApp::account`].
pub const PASSWORD: &str = "correct horse battery staple";

/// A running Kiln (API + workers) on a fresh database.
pub struct TestApp {
    pub ctx: TestContext,
    pub base: String,
    /// The internal listener (health details and `/metrics`, no credentials).
    pub internal: String,
    pub http: reqwest::Client,
    pub keys: AuthKeys,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts the API on port 0 and, unless `workers` is false, every queue's workers.
pub async fn spawn_app_with(
    backend: impl Into<Backend>,
    workers: bool,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("socket address");
    let base = format!("http://{addr}");
    let ctx = TestContext::with_backend(backend.into(), |c| {
        c.http.public_url = Some(base.clone());
        tweak(c);
    })
    .await;
    let keys = AuthKeys::hs256(
        SECRET,
        &ctx.app.config.auth.issuer,
        &ctx.app.config.auth.audience,
    );
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    {
        let app = kiln_api::app(ctx.app.clone(), keys.clone());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    stop.cancelled_owned(),
                    Some(Duration::from_secs(5)),
                )
                .await
                .map_err(Into::into)
        }));
    }
    let internal = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let internal_addr = internal.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("socket address");
    {
        let routes = kiln_worker::probe::routes(ctx.app.clone(), true);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            Server::new_with_acceptor(internal)
                .run_with_graceful_shutdown(routes, stop.cancelled_owned(), None)
                .await
                .map_err(Into::into)
        }));
    }
    if workers {
        let (app, stop) = (ctx.app.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            kiln_worker::run(app, &QueueName::ALL, stop).await
        }));
    }
    TestApp {
        base,
        internal: format!("http://{internal_addr}"),
        http: reqwest::Client::new(),
        keys,
        shutdown,
        tasks,
        ctx,
    }
}

pub async fn spawn_app(backend: impl Into<Backend>) -> TestApp {
    spawn_app_with(backend, true, |_| {}).await
}

impl TestApp {
    pub fn token(&self, subject: &str) -> String {
        self.keys.mint(subject, Role::User, 600).expect("mint")
    }

    pub fn token_as(&self, subject: &str, role: Role) -> String {
        self.keys.mint(subject, role, 600).expect("mint")
    }

    /// Creates an account directly (any role) and logs it in; returns the
    /// login response (`access_token`, `refresh_token`, `user`).
    pub async fn account(&self, email: &str, role: Role) -> serde_json::Value {
        self.ctx
            .app
            .identity
            .create_user(email, PASSWORD, role)
            .await
            .expect("create user");
        let resp = self.login(email, PASSWORD).await;
        assert_eq!(resp.status(), 200, "login {email}");
        resp.json().await.expect("token JSON")
    }

    /// Creates an account; returns its user id and an access token.
    pub async fn account_token(&self, email: &str, role: Role) -> (String, String) {
        let login = self.account(email, role).await;
        (
            login["user"]["id"].as_str().expect("user id").to_owned(),
            login["access_token"].as_str().expect("token").to_owned(),
        )
    }

    /// Sends `method path` with a bearer token; returns the status and the
    /// JSON body (`null` for 204).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let resp = self.send_as(method, path, bearer, body).await;
        let status = resp.status().as_u16();
        let body = if status == 204 {
            serde_json::Value::Null
        } else {
            resp.json().await.expect("JSON body")
        };
        (status, body)
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/v1/auth/login",
            None,
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// POSTs a JSON body, with a bearer token when given.
    pub async fn post_json(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// Sends `method path` with a bearer token.
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` on the internal listener.
    pub fn internal_url(&self, path: &str) -> String {
        format!("{}{path}", self.internal)
    }

    /// The Prometheus text of the internal listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.internal_url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn get(&self, user: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(self.token(user))
            .send()
            .await
            .expect("request")
    }

    /// GETs `path` as `user` and parses the JSON body.
    pub async fn get_json(&self, user: &str, path: &str) -> serde_json::Value {
        self.get(user, path).await.json().await.expect("JSON body")
    }

    pub async fn post(&self, user: &str, path: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(self.token(user))
            .send()
            .await
            .expect("request")
    }

    /// Uploads `bytes` as `name`, returning the response.
    pub async fn upload(
        &self,
        user: &str,
        name: &str,
        bytes: Vec<u8>,
        key: Option<&str>,
    ) -> reqwest::Response {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
        let mut req = self
            .http
            .post(self.url("/v1/media"))
            .bearer_auth(self.token(user))
            .multipart(form);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.expect("upload")
    }

    /// Waits (bounded) until the job reaches a terminal status and returns its JSON.
    pub async fn wait_job(&self, user: &str, job_id: &str) -> serde_json::Value {
        self.wait_job_as(&self.token(user), job_id).await
    }

    /// [`TestApp::wait_job`] with a given bearer token.
    pub async fn wait_job_as(&self, bearer: &str, job_id: &str) -> serde_json::Value {
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let j: serde_json::Value = self
                .send_as(
                    reqwest::Method::GET,
                    &format!("/v1/jobs/{job_id}"),
                    bearer,
                    None,
                )
                .await
                .json()
                .await
                .expect("json");
            let status: JobStatus = serde_json::from_value(j["status"].clone()).expect("status");
            if status.is_terminal() {
                return j;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "job {job_id} never finished: {j}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            t.await.expect("join").expect("clean stop");
        }
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/jobs/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Asserts that `user` gets a 404 in the error shape for `GET path`.
pub async fn assert_not_found(app: &TestApp, user: &str, path: &str) {
    assert_eq!(
        error_code(app.get(user, path).await, 404).await,
        "not_found",
        "{path}"
    );
}

/// Asserts the one error shape and returns the code.
/// The value of the series `name` with exactly `labels` in a Prometheus
/// text scrape, if it is there.
pub fn metric_value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
        if series_name != name {
            return None;
        }
        let mut found: Vec<(&str, &str)> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k, v.trim_matches('"')))
            })
            .collect();
        let mut want = labels.to_vec();
        found.sort_unstable();
        want.sort_unstable();
        (found == want).then(|| value.parse().ok()).flatten()
    })
}

pub async fn error_code(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let has_id = resp.headers().contains_key("x-request-id");
    let body: serde_json::Value = resp.json().await.expect("error body is JSON");
    assert!(has_id, "x-request-id header");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["code"].as_str().expect("code").to_owned()
}
