//! `report.export`: the reports a [`Filter`] selects, as RFC 4180 CSV with a
//! header row, streamed from the database (rows are read as the server
//! sends them, never collected) through a small buffer into a streaming
//! upload to object storage. Progress (rows written of the total counted
//! at the start, up to 99 %; the ledger records 100 with the success) goes
//! to the ledger; the result names the object key and the row count.
//!
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return) get a leading `'`, as OWASP advises
//! for CSV exported to spreadsheets.

use futures::TryStreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{
    Filter, ReportExportV1, export_key,
    repo::{self, Bind, COLUMNS, ReportRow, bind_all, filter_sql},
};
use crate::{
    context::{AppContext, JobCtx},
    job::{Classify, JobError},
    ledger::{Enqueued, LedgerError, NewJob},
    on_db,
    storage::StorageWriter,
};

/// The header row, in column order.
pub const HEADER: [&str; 14] = [
    "report_id",
    "created_at",
    "status",
    "reason",
    "target_type",
    "target_id",
    "reporter_id",
    "reporter_new_account",
    "details",
    "priority",
    "action",
    "note",
    "reviewed_by",
    "closed_at",
];

/// Bytes gathered before they are handed to the upload.
const CHUNK: usize = 64 * 1024;
/// Rows between progress updates.
const PROGRESS_EVERY: u64 = 2_000;

/// Queues an export for `requested_by`; the job's id is the export's id.
pub async fn enqueue(
    app: &AppContext,
    requested_by: &str,
    filter: Filter,
) -> Result<Enqueued, LedgerError> {
    app.ledger
        .enqueue(NewJob::new(requested_by, ReportExportV1 { filter }))
        .await
}

/// A cell as written: formula-looking text defused.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn record(r: &ReportRow) -> [String; 14] {
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    [
        r.id.to_string(),
        time(r.created_at),
        r.status.as_str().to_owned(),
        r.reason.as_str().to_owned(),
        r.target_type.as_str().to_owned(),
        r.target_id.clone(),
        r.reporter_id.to_string(),
        r.reporter_new.to_string(),
        r.details.clone().unwrap_or_default(),
        r.priority.to_string(),
        r.action.clone().unwrap_or_default(),
        r.note.clone().unwrap_or_default(),
        r.reviewed_by.clone().unwrap_or_default(),
        r.closed_at.map(time).unwrap_or_default(),
    ]
}

/// The bytes the CSV writer produced and the upload has not taken yet.
#[derive(Debug, Clone, Default)]
struct Pending(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Pending {
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |b| b.len())
    }

    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

impl std::io::Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("export buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CSV rows on their way to the upload.
struct Sink {
    csv: csv::Writer<Pending>,
    pending: Pending,
    upload: StorageWriter,
    rows: u64,
    bytes: u64,
}

impl Sink {
    async fn row<I, S>(&mut self, cells: I) -> Result<(), JobError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.csv
            .write_record(cells.into_iter().map(|c| defuse(c.as_ref()).into_owned()))
            .retry()?;
        if self.pending.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), JobError> {
        self.csv.flush().retry()?;
        let chunk = self.pending.take();
        self.bytes += chunk.len() as u64;
        self.upload.write_all(&chunk).await.retry()
    }
}

/// Runs `report.export`.
pub async fn run(ctx: &JobCtx, job: ReportExportV1) -> Result<Value, JobError> {
    let app = &ctx.app;
    let total = u64::try_from(repo::count(&app.db, &job.filter).await.retry()?).unwrap_or(0);
    let key = export_key(ctx.job_id);
    let pending = Pending::default();
    let mut sink = Sink {
        csv: csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(pending.clone()),
        pending,
        upload: app.storage.writer(&key),
        rows: 0,
        bytes: 0,
    };
    match write_rows(ctx, &job.filter, total, &mut sink).await {
        Ok(()) => {}
        Err(e) => {
            if let Err(abort) = sink.upload.abort().await {
                tracing::warn!(error = %abort, "could not abort a report export upload");
            }
            return Err(e);
        }
    }
    sink.flush().await?;
    sink.upload.shutdown().await.retry()?;
    app.metrics.record_export_rows(sink.rows);
    Ok(json!({
        "object_key": key,
        "rows": sink.rows,
        "bytes": sink.bytes,
    }))
}

async fn write_rows(
    ctx: &JobCtx,
    filter: &Filter,
    total: u64,
    sink: &mut Sink,
) -> Result<(), JobError> {
    sink.row(HEADER).await?;
    let mut binds: Vec<Bind> = Vec::new();
    let cond = filter_sql(filter, &mut binds);
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE {cond} ORDER BY created_at, id");
    let db = &ctx.app.db;
    on_db!(db, p => {
        let mut rows = bind_all!(sqlx::query_as::<_, ReportRow>(sqlx::AssertSqlSafe(sql)), binds)
            .fetch(p);
        while let Some(r) = rows.try_next().await.retry()? {
            sink.row(record(&r)).await?;
            sink.rows += 1;
            if sink.rows.is_multiple_of(PROGRESS_EVERY) && total > 0 {
                let percent = (sink.rows.min(total) * 99 / total) as u8;
                ctx.progress(percent).await;
            }
        }
    });
    Ok(())
}

/// The id of an export is its job's id; this checks a job is one.
pub fn is_export(kind: &str) -> bool {
    kind == <ReportExportV1 as crate::job::Job>::KIND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        for cell in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"] {
            assert_eq!(defuse(cell), format!("'{cell}"));
        }
        for cell in ["plain", "", "1-2", "a=b", "'quoted"] {
            assert_eq!(defuse(cell), cell);
        }
    }
}
