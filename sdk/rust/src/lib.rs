#![doc = include_str!("../README.md")]

// progenitor's output, checked in as it came (scripts/sdk/gen-rust.sh); its
// `types` and `builder` modules carry their own `allow(clippy::all)`.
#[allow(
    clippy::unwrap_used,
    reason = "generated code, never edited: Client::new unwraps reqwest's ClientBuilder::build"
)]
mod generated;

pub use generated::*;

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use progenitor_client::{ClientHooks, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use types::{ErrorBody, JobOut, JobStatus, MediaAccepted, TokenOut};

const API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// What a [`Client`] sends to prove who calls.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credential {
    /// Nothing: only the public operations (register, login, refresh, health).
    #[default]
    None,
    /// `Authorization: Bearer <access_token>`; the refresh token, when known,
    /// lets [`Client::refresh_session`] get the next pair.
    Bearer {
        access_token: String,
        refresh_token: Option<String>,
    },
    /// `X-API-Key: kiln_…`, limited to the key's scopes.
    ApiKey(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::None => "None",
            Credential::Bearer { .. } => "Bearer(…)",
            Credential::ApiKey(_) => "ApiKey(…)",
        })
    }
}

/// The client's credential, shared by its clones: [`Client::sign_in`] and
/// [`Client::refresh_session`] replace it, and every request carries the
/// current one (set by the [`ClientHooks`] below). A request that already has
/// an `Authorization` or `X-API-Key` header keeps it.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    current: Arc<RwLock<Credential>>,
    /// Kiln treats two refreshes with one token as reuse: one at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl Credentials {
    pub fn new(credential: Credential) -> Self {
        let c = Self::default();
        c.set(credential);
        c
    }

    /// No credential yet (sign in with [`Client::sign_in`]).
    pub fn none() -> Self {
        Self::default()
    }

    /// A bearer access token, without a refresh token.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Self::new(Credential::Bearer {
            access_token: access_token.into(),
            refresh_token: None,
        })
    }

    /// An API key (`kiln_…`).
    pub fn api_key(key: impl Into<String>) -> Self {
        Self::new(Credential::ApiKey(key.into()))
    }

    pub fn get(&self) -> Credential {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, credential: Credential) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = credential;
    }

    fn set_tokens(&self, tokens: &TokenOut) {
        self.set(Credential::Bearer {
            access_token: tokens.access_token.clone(),
            refresh_token: Some(tokens.refresh_token.clone()),
        });
    }
}

impl ClientHooks<Credentials> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let headers = request.headers_mut();
        if headers.contains_key(AUTHORIZATION) || headers.contains_key(API_KEY) {
            return Ok(());
        }
        let (name, mut value) = match self.inner().get() {
            Credential::None => return Ok(()),
            Credential::Bearer { access_token, .. } => (
                AUTHORIZATION,
                HeaderValue::try_from(format!("Bearer {access_token}"))?,
            ),
            Credential::ApiKey(key) => (API_KEY, HeaderValue::try_from(key)?),
        };
        value.set_sensitive(true);
        headers.insert(name, value);
        Ok(())
    }
}

impl Client {
    /// The credential every request of this client (and its clones) carries.
    pub fn credentials(&self) -> &Credentials {
        self.inner()
    }

    /// `POST /v1/auth/login`; on success the client sends the new access
    /// token from then on and keeps the refresh token for
    /// [`Client::refresh_session`].
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<TokenOut, Error<ErrorBody>> {
        let tokens = self
            .auth_login()
            .body_map(|b| b.email(email).password(password))
            .send()
            .await?
            .into_inner();
        self.inner().set_tokens(&tokens);
        Ok(tokens)
    }

    /// `POST /v1/auth/refresh` with the refresh token this client holds; on
    /// success the client uses the new pair. Refresh tokens are single use
    /// and Kiln revokes the session when one is presented twice, so calls are
    /// serialised across the client's clones.
    pub async fn refresh_session(&self) -> Result<TokenOut, Error<ErrorBody>> {
        let _one_at_a_time = self.inner().refreshing.lock().await;
        let Credential::Bearer {
            refresh_token: Some(refresh_token),
            ..
        } = self.inner().get()
        else {
            return Err(Error::InvalidRequest(
                "no refresh token: sign in first (Client::sign_in)".into(),
            ));
        };
        let tokens = self
            .auth_refresh()
            .body_map(|b| b.refresh_token(refresh_token))
            .send()
            .await?
            .into_inner();
        self.inner().set_tokens(&tokens);
        Ok(tokens)
    }

    /// `POST /v1/media`: uploads an image as the multipart field `file`
    /// (202, or 200 when `idempotency_key` was used before).
    ///
    /// Written by hand: progenitor 0.15.1 cannot generate a
    /// `multipart/form-data` request body, so the generator leaves
    /// `media_create` out. Like a generated operation it runs the client's
    /// hooks and answers a typed [`ErrorBody`] for the documented errors.
    pub async fn upload_media(
        &self,
        file_name: &str,
        bytes: impl Into<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> Result<ResponseValue<MediaAccepted>, Error<ErrorBody>> {
        let part = reqwest::multipart::Part::bytes(bytes.into()).file_name(file_name.to_owned());
        let mut builder = self
            .client()
            .post(format!("{}/v1/media", self.baseurl()))
            .multipart(reqwest::multipart::Form::new().part("file", part));
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        let mut request = builder.build()?;
        let info = OperationInfo {
            operation_id: "media_create",
        };
        self.pre(&mut request, &info).await?;
        let result = self.exec(request, &info).await;
        self.post(&result, &info).await?;
        let response = result?;
        match response.status().as_u16() {
            200 | 202 => ResponseValue::from_response(response).await,
            // The error statuses the document lists for media_create.
            400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503 => Err(
                Error::ErrorResponse(ResponseValue::from_response(response).await?),
            ),
            _ => Err(Error::UnexpectedResponse(response)),
        }
    }

    /// Polls `GET /v1/jobs/{id}` until the job is `succeeded`, `failed`,
    /// `dead` or `cancelled`, waiting 50 ms and then twice as long each time
    /// (at most 2 s) between looks. After `timeout` it answers
    /// [`Error::Custom`] with the status it last saw.
    pub async fn wait_for_job(
        &self,
        id: &uuid::Uuid,
        timeout: Duration,
    ) -> Result<JobOut, Error<ErrorBody>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            let job = self.jobs_get().id(*id).send().await?.into_inner();
            if matches!(
                job.status,
                JobStatus::Succeeded | JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled
            ) {
                return Ok(job);
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Error::Custom(format!(
                    "job {id} is still {} after {timeout:?}",
                    job.status
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}
