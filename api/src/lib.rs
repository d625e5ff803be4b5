//! kiln-api: Kiln's HTTP tier.
//!
//! poem-openapi endpoints (one `XxxApi` per resource), authentication, the one
//! error shape, health checks and metrics. It enqueues through `kiln-jobs` and
//! never runs a job handler.

mod allow;
pub mod auth;
mod body_limit;
mod compression;
mod console;
mod contract;
mod cors;
pub mod endpoints;
pub mod error;
mod http_metrics;
mod nul_input;
pub mod rate_limit;
mod request_id;
mod request_span;
mod security_headers;
mod upload;

use poem::{
    EndpointExt, Route, get, handler,
    listener::Listener as _,
    middleware::{RequestId, ReuseId},
};
use poem_openapi::{OpenApi, OpenApiService, Tags};

use kiln_jobs::AppContext;

pub use auth::{AuthKeys, AuthKeysBuilder, Claims, Principal};
pub use kiln_jobs::identity::{Role, Scope};
pub use rate_limit::{ClientIp, RateLimits};

/// Tags grouping operations in the document.
#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, refresh and log out.
    Auth,
    /// Your API keys.
    ApiKeys,
    /// Accounts and the audit log (admins).
    Users,
    /// Image uploads and variants.
    Media,
    /// The job ledger.
    Jobs,
    /// Queue depth and dead-job requeue (operators).
    Queues,
    /// Your push devices.
    Devices,
    /// Notifications: send (operators) and your history.
    Notifications,
    /// Your webhook endpoints and their deliveries.
    Webhooks,
    /// Content reports: file them (users), review, act and export (moderators).
    Reports,
    /// Database backups and their schedules (operators).
    Backups,
    /// Liveness, readiness and startup (public); build, database, Redis
    /// and process details (operators).
    Health,
}

/// The routes beside the document's operations (all read-only).
pub(crate) const DOCS_PATH: &str = "/docs";
/// Where the operator console is served.
pub(crate) const CONSOLE_PATH: &str = "/console";
/// See [`DOCS_PATH`].
pub(crate) const OPENAPI_PATH: &str = "/openapi.json";

/// The OpenAPI service, built without connecting to anything.
pub fn openapi_service() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(
        (
            endpoints::auth::AuthApi,
            endpoints::api_keys::ApiKeysApi,
            endpoints::users::UsersApi,
            endpoints::media::MediaApi,
            endpoints::jobs::JobsApi,
            endpoints::queues::QueuesApi,
            endpoints::devices::DevicesApi,
            endpoints::notifications::NotificationsApi,
            endpoints::webhooks::WebhooksApi,
            endpoints::reports::ReportsApi,
            endpoints::backups::BackupsApi,
            endpoints::health::HealthApi,
        ),
        "Kiln",
        env!("CARGO_PKG_VERSION"),
    )
    .license(
        poem_openapi::LicenseObject::new("Apache-2.0")
            .url("https://www.apache.org/licenses/LICENSE-2.0"),
    )
    .description(
        "Kiln accepts requests and queues the heavy work. Every error has the body \
         `{code, message, request_id, details?}`. Authenticate with a bearer access \
         token from `POST /v1/auth/login` or an `X-API-Key` from `POST /v1/api-keys`; \
         each operation says who may call it.",
    )
}

/// The published OpenAPI document as JSON (see [`contract`]).
pub fn spec_json() -> String {
    contract::json().to_owned()
}

/// The published OpenAPI document as YAML.
pub fn spec_yaml() -> String {
    serde_yaml::to_string(contract::document())
        .unwrap_or_else(|e| unreachable!("a JSON value always serialises as YAML: {e}"))
}

/// Swagger UI over the published document: poem-openapi's page, with the
/// document it embeds replaced by the finished one; its OAuth2 redirect
/// page as poem-openapi serves it.
fn swagger_ui<T: OpenApi>(api: &OpenApiService<T, ()>) -> impl poem::Endpoint + use<T> {
    let html = api
        .swagger_ui_html()
        .replacen(contract::raw_json(), contract::json(), 1);
    Route::new()
        .at(
            "/",
            poem::endpoint::make_sync(move |_| poem::web::Html(html.clone())),
        )
        .at("/oauth-receiver.html", api.swagger_ui())
}

#[handler]
fn openapi_json() -> poem::Response {
    poem::Response::builder()
        .content_type("application/json")
        .body(contract::json())
}

/// The whole HTTP application. Middleware, outermost first: security
/// headers, client IP, request id, request log, CORS, metrics, the error
/// shape, compression, the per-IP limit on `/v1/auth/`, the per-principal
/// limit elsewhere, the body limit, the refusal of NUL characters in input.
pub fn app(ctx: AppContext, keys: AuthKeys) -> impl poem::Endpoint {
    let api = openapi_service();
    let ui = swagger_ui(&api);
    let http = &ctx.config.http;
    let limits = RateLimits::new(&ctx.config.rate_limit);
    let trusted = ctx
        .config
        .rate_limit
        .trusted_proxy_nets()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "ignoring rate_limit.trusted_proxies");
            Vec::new()
        });
    Route::new()
        .nest("/", api)
        .nest(DOCS_PATH, ui.with(security_headers::DocsCsp))
        .nest(CONSOLE_PATH, console::routes())
        .at(OPENAPI_PATH, get(openapi_json))
        .with(nul_input::RejectNul)
        .with(body_limit::DefaultBodyLimit {
            max: http.max_body_bytes,
        })
        .with(auth::PrincipalRateLimit)
        .with(rate_limit::AuthRateLimit(limits.clone()))
        .with(compression::Compression)
        .with(error::ErrorShape)
        .with(http_metrics::HttpMetrics)
        .with(cors::Cors::new(&http.cors_allowed_origins))
        .with(request_span::RequestSpan)
        .with(RequestId::default().reuse_id(ReuseId::Use))
        .with(request_id::SanitizeRequestId)
        .with(rate_limit::ResolveClientIp::new(trusted))
        .with(security_headers::SecurityHeaders {
            hsts: http.is_https(),
        })
        .data(limits)
        .data(keys)
        .data(ctx)
}

/// Serves the HTTP tier on `http.listen` until `shutdown` is cancelled, then
/// drains in-flight requests for up to `http.shutdown_timeout_secs`.
pub async fn serve(
    ctx: AppContext,
    keys: AuthKeys,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use poem::{Server, listener::TcpListener};
    let addr = ctx.config.http.listen;
    let grace = std::time::Duration::from_secs(ctx.config.http.shutdown_timeout_secs);
    let public = ctx.config.public_url();
    let acceptor = TcpListener::bind(addr).into_acceptor().await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e} (set KILN__HTTP__LISTEN to another address)")
    })?;
    tracing::info!("Kiln API listening on http://{addr}");
    tracing::info!(
        "Swagger UI: {public}/docs   OpenAPI document: {public}/openapi.json   Operator console: {public}/console"
    );
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(ctx, keys), shutdown.cancelled_owned(), Some(grace))
        .await?;
    Ok(())
}
