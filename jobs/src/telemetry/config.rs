//! Settings of traces: where they are exported, and how many are kept.

use serde::{Deserialize, Serialize};

/// Traces (OpenTelemetry). Trace ids are in the logs whether or not they are exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector to export spans to, e.g. `http://otel-collector:4318` (`/v1/traces` is appended unless given); unset: no export.
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces sampled, from 0 to 1 (default 1); a request that arrives with a sampled `traceparent` is always kept.
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    /// Checks the endpoint's scheme and the ratio's range.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "telemetry.sample_ratio must be between 0 and 1, not {}",
                self.sample_ratio
            ));
        }
        if let Some(url) = &self.otlp_endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "telemetry.otlp_endpoint must be an http:// or https:// URL, not {url:?}"
            ));
        }
        Ok(())
    }

    /// The URL spans are posted to.
    pub fn traces_url(&self) -> Option<String> {
        let base = self.otlp_endpoint.as_deref()?.trim_end_matches('/');
        Some(if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        })
    }
}
