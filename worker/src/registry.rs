//! Every job type the workers run, and the dispatch from a stored payload to
//! its family's handler. Registering a job type is one line in [`registry!`]
//! below; the kind, queue and `type` tag come from the payload's
//! [`Job`] impl in its family folder.
//!
//! The list generates an enum with one variant per type, so the dispatch is a
//! `match` the compiler checks, and two types with the same tag are refused
//! at compile time. A payload whose tag no line names (an old version that
//! was removed, a bad producer) decodes to an error, and its job fails
//! without a retry.

use kiln_jobs::{
    AppContext, Job, JobCtx, JobError, JobRun, JobStatus,
    backups::{self, BackupPruneV1, BackupRunV1, BackupVerifyV1},
    job::payload_type,
    media::{self, ImageProcessV1},
    noop::{self, NoopV1},
    notifications::{self, EmailSendV1, PushSendV1},
    reports::{self, ReportExportV1, ReportNotifyV1, ReportTriageV1},
    webhooks::{self, WebhookDeliverV1},
};
use serde_json::Value;

/// `Type => handler [, unfinished => hook]`: the hook closes a family's own
/// rows when a job of the type ends `failed` or `dead` without its handler
/// recording it (a timeout, a lost worker, spent attempts).
macro_rules! registry {
    ($($job:ident => $run:path $(, unfinished => $close:path)?;)+) => {
        /// A decoded payload of a registered job type.
        #[derive(Debug)]
        pub enum Payload {
            $(
                #[doc = concat!("`", stringify!($job), "`")]
                $job($job),
            )+
        }

        /// The `type` tag of every registered job type.
        pub const TYPES: &[&str] = &[$(<$job as Job>::TYPE),+];

        const _: () = assert!(all_distinct(TYPES), "two job types share a `type` tag");

        /// The kind of a stored payload's registered type, or `unknown` for
        /// a tag no line names: a bounded label for metrics.
        pub fn kind_of(payload: &Value) -> &'static str {
            match payload_type(payload) {
                $(Some(<$job as Job>::TYPE) => <$job as Job>::KIND,)+
                _ => "unknown",
            }
        }

        impl Payload {
            /// Decodes a stored payload by its `type` tag.
            pub fn decode(payload: Value) -> Result<Payload, String> {
                let tag = payload_type(&payload).map(str::to_owned);
                match tag.as_deref() {
                    $(Some(<$job as Job>::TYPE) => <$job as Job>::from_payload(payload)
                        .map(Payload::$job)
                        .map_err(|e| e.to_string()),)+
                    Some(other) => Err(format!("no handler is registered for job type {other:?}")),
                    None => Err("the payload has no `type` tag".to_owned()),
                }
            }

            /// Runs the payload's handler.
            pub async fn run(self, ctx: &JobCtx) -> Result<Value, JobError> {
                match self {
                    $(Payload::$job(p) => $run(ctx, p).await,)+
                }
            }
        }

        /// Closes the family rows of a job that ended `failed` or `dead`
        /// without its handler recording it; failures are only logged.
        pub async fn close_unfinished(
            app: &AppContext,
            job: &JobRun,
            status: JobStatus,
            error: Option<&str>,
        ) {
            if !matches!(status, JobStatus::Failed | JobStatus::Dead) {
                return;
            }
            let closed: Result<(), kiln_jobs::ledger::SqlxError> = match job.kind.as_str() {
                $($(<$job as Job>::KIND => $close(app, job, status, error).await,)?)+
                _ => Ok(()),
            };
            if let Err(e) = closed {
                tracing::warn!(job_id = %job.id, error = %e, "could not close the job's history row");
            }
        }
    };
}

registry! {
    ImageProcessV1 => media::process::run, unfinished => media::process::close_unfinished;
    EmailSendV1 => notifications::send::send_email, unfinished => notifications::send::close_unfinished;
    PushSendV1 => notifications::send::send_push, unfinished => notifications::send::close_unfinished;
    WebhookDeliverV1 => webhooks::deliver::run, unfinished => webhooks::deliver::close_unfinished;
    BackupRunV1 => backups::run::run, unfinished => backups::run::close_unfinished;
    BackupVerifyV1 => backups::verify::run;
    BackupPruneV1 => backups::prune::run;
    ReportTriageV1 => reports::triage::run;
    ReportNotifyV1 => reports::notify::run;
    ReportExportV1 => reports::export::run;
    NoopV1 => noop::run;
}

/// True when no two strings of `all` are equal (usable in constants).
const fn all_distinct(all: &[&str]) -> bool {
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len() {
            if str_eq(all[i], all[j]) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_type_decodes_its_own_payload() {
        let payload = NoopV1::default().to_payload().expect("payload");
        assert!(matches!(Payload::decode(payload), Ok(Payload::NoopV1(_))));
        let media = ImageProcessV1 {
            media_id: uuid::Uuid::now_v7(),
        };
        let payload = media.to_payload().expect("payload");
        assert!(matches!(
            Payload::decode(payload),
            Ok(Payload::ImageProcessV1(p)) if p.media_id == media.media_id
        ));
    }

    #[test]
    fn unknown_or_untagged_payloads_are_refused_with_a_reason() {
        let unknown = Payload::decode(serde_json::json!({ "type": "report.triage.v9" }));
        assert!(unknown.is_err_and(|e| e.contains("report.triage.v9")));
        let untagged = Payload::decode(serde_json::json!({ "media_id": "x" }));
        assert!(untagged.is_err_and(|e| e.contains("no `type` tag")));
        let wrong_fields = Payload::decode(serde_json::json!({ "type": "noop.v1", "bogus": 1 }));
        assert!(wrong_fields.is_err());
    }

    #[test]
    fn tags_are_distinct_and_name_their_kind() {
        assert!(all_distinct(TYPES));
        assert!(!all_distinct(&["a.v1", "b.v1", "a.v1"]));
        assert_eq!(
            TYPES,
            [
                "image.process.v1",
                "email.send.v1",
                "push.send.v1",
                "webhook.deliver.v1",
                "backup.run.v1",
                "backup.verify.v1",
                "backup.prune.v1",
                "report.triage.v1",
                "report.notify.v1",
                "report.export.v1",
                "noop.v1"
            ]
        );
    }
}
