//! Settings of the reports job family (the `reports` section).

use serde::{Deserialize, Serialize};

use super::Reason;

/// Content-report settings (the `reports` section of Kiln's config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Reports one user may file per hour; more get 429 with Retry-After (default 20).
    pub max_per_hour: u32,
    /// A target whose priority reaches this is escalated: the moderators are emailed, the
    /// `report.escalated` event is sent and reported media is hidden until a moderator restores
    /// it (default 10).
    pub auto_hide_threshold: f64,
    /// What one reporter adds to a target's priority, by the reason of their report (a
    /// reporter whose account was younger than a day when reporting adds half).
    pub weights: ReasonWeights,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            max_per_hour: 20,
            auto_hide_threshold: 10.0,
            weights: ReasonWeights::default(),
        }
    }
}

impl ReportsConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_per_hour == 0 {
            return Err("reports.max_per_hour must be at least 1".into());
        }
        if !(self.auto_hide_threshold.is_finite() && self.auto_hide_threshold > 0.0) {
            return Err("reports.auto_hide_threshold must be a positive number".into());
        }
        for reason in Reason::ALL {
            let w = self.weights.of(reason);
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!(
                    "reports.weights.{reason} must be a number of at least 0"
                ));
            }
        }
        Ok(())
    }
}

/// The weight of each report reason in a target's priority.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReasonWeights {
    /// Spam (default 1).
    pub spam: f64,
    /// Harassment (default 2).
    pub harassment: f64,
    /// Hate (default 3).
    pub hate: f64,
    /// Violence (default 5).
    pub violence: f64,
    /// Sexual content (default 3).
    pub sexual: f64,
    /// Self-harm (default 5).
    pub self_harm: f64,
    /// Illegal content (default 5).
    pub illegal: f64,
    /// Copyright (default 2).
    pub copyright: f64,
    /// Impersonation (default 2).
    pub impersonation: f64,
    /// Other (default 1).
    pub other: f64,
}

impl Default for ReasonWeights {
    fn default() -> Self {
        Self {
            spam: 1.0,
            harassment: 2.0,
            hate: 3.0,
            violence: 5.0,
            sexual: 3.0,
            self_harm: 5.0,
            illegal: 5.0,
            copyright: 2.0,
            impersonation: 2.0,
            other: 1.0,
        }
    }
}

impl ReasonWeights {
    /// The weight of `reason`.
    pub fn of(&self, reason: Reason) -> f64 {
        match reason {
            Reason::Spam => self.spam,
            Reason::Harassment => self.harassment,
            Reason::Hate => self.hate,
            Reason::Violence => self.violence,
            Reason::Sexual => self.sexual,
            Reason::SelfHarm => self.self_harm,
            Reason::Illegal => self.illegal,
            Reason::Copyright => self.copyright,
            Reason::Impersonation => self.impersonation,
            Reason::Other => self.other,
        }
    }
}
