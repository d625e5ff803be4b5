//! `Db::begin`: transactions that read before they write, run side by side,
//! all commit. On SQLite that takes `BEGIN IMMEDIATE`; a deferred transaction
//! whose snapshot another connection's commit made stale fails at once with
//! "database is locked", however long the busy timeout.

use chrono::Utc;
use uuid::Uuid;

use kiln_jobs::{
    db::{Db, DbTx},
    testing::{Backend, TestContext},
};

/// The users a transaction sees.
async fn count_users(tx: &mut DbTx) -> i64 {
    let sql = "SELECT COUNT(*) FROM users";
    kiln_jobs::on_tx!(tx, t => sqlx::query_scalar(sql).fetch_one(&mut **t).await)
        .expect("count users")
}

/// Reads, gives the other tasks a turn, then writes in the same transaction.
async fn read_then_write(db: Db) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let seen = count_users(&mut tx).await;
    tokio::task::yield_now().await;
    let id = Uuid::now_v7();
    let email = format!("{id}@example.com");
    let role = if seen % 2 == 0 { "user" } else { "moderator" };
    let sql = "INSERT INTO users (id, email, password_hash, role, disabled, failed_logins, \
               created_at, updated_at) VALUES ($1, $2, 'x', $3, FALSE, 0, $4, $4)";
    let now = Utc::now();
    let inserted = kiln_jobs::on_tx!(&mut tx, t => sqlx::query(sql)
        .bind(id)
        .bind(&email)
        .bind(role)
        .bind(now)
        .execute(&mut **t)
        .await?
        .rows_affected());
    assert_eq!(inserted, 1);
    tx.commit().await
}

kiln_jobs::per_backend!(
    concurrent_transactions_that_read_then_write_all_commit,
    [sqlite, postgres]
);
async fn concurrent_transactions_that_read_then_write_all_commit(kind: Backend) {
    const TASKS: i64 = 24;
    let t = TestContext::with_backend(kind, |_| {}).await;
    let before = {
        let mut tx = t.app.db.begin().await.expect("begin");
        count_users(&mut tx).await
    };
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| tokio::spawn(read_then_write(t.app.db.clone())))
        .collect();
    for task in tasks {
        task.await
            .expect("the task ran")
            .expect("a read-then-write transaction commits");
    }
    let mut tx = t.app.db.begin().await.expect("begin");
    assert_eq!(count_users(&mut tx).await, before + TASKS);
}
