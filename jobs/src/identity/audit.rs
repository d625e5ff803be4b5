//! The audit log: who did what, from where. Every identity operation that
//! changes an account, a session or a key appends an entry.

use chrono::Utc;
use uuid::Uuid;

use super::service::{Identity, IdentityError};
use crate::db::{audit, audit::AuditRow};

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// The client address.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl Identity {
    /// Appends to the audit log. A failure is logged, never fatal: the action
    /// it records has already happened.
    pub async fn audit(
        &self,
        action: &str,
        actor: Option<String>,
        subject: Option<String>,
        from: &AuditEntry,
        details: Option<serde_json::Value>,
    ) {
        let row = AuditRow {
            id: Uuid::now_v7(),
            at: Utc::now(),
            action: action.to_owned(),
            actor,
            subject,
            ip: from.ip.clone(),
            request_id: from.request_id.clone(),
            details: details.map(sqlx::types::Json),
        };
        if let Err(e) = audit::insert(&self.db, &row).await {
            tracing::error!(error = %e, action, "could not write the audit log");
        }
        tracing::info!(target: "kiln::audit", action, actor = ?row.actor, subject = ?row.subject, ip = ?row.ip);
    }

    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        action: Option<&str>,
        actor: Option<&str>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, IdentityError> {
        Ok(audit::list(&self.db, action, actor, before, limit).await?)
    }
}
