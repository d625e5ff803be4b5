//! Repository for accounts (`users`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// A `users` row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, password_hash, role, disabled, failed_logins, locked_until, \
                       created_at, updated_at";

/// Inserts a user; a taken email is a unique violation (`users_email`).
pub async fn insert(
    db: &Db,
    id: Uuid,
    email: &str,
    password_hash: &str,
    role: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO users (id, email, password_hash, role, disabled, failed_logins, \
               created_at, updated_at) VALUES ($1, $2, $3, $4, FALSE, 0, $5, $5)";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(role)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
}

/// One user by id.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// One user by id inside a transaction.
pub async fn get_in_tx(tx: &mut DbTx, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    on_tx!(tx, t => sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **t)
        .await)
}

/// One user by normalised email.
pub async fn by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    on_db!(db, p => sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(p)
        .await)
}

/// A page of users in id order, after `after` when given.
pub async fn list(db: &Db, after: Option<Uuid>, limit: u32) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2");
    on_db!(db, p => sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await)
}

/// A login attempt [`reserve_attempt`] let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Attempts counted since the last success, this one included.
    pub count: i32,
    /// Set when this attempt reached the threshold and locked the account.
    pub locked_until: Option<DateTime<Utc>>,
}

/// Reserves one login attempt before its password is checked, counting it as
/// a failure until [`record_success`] says otherwise. Refuses (None) while
/// the account is locked; the attempt that reaches `threshold` locks it until
/// `lock_until`. A lock that has run out starts a fresh count.
///
/// One statement, so of concurrent attempts at most `threshold` get through
/// per lock window however many are in flight.
pub async fn reserve_attempt(
    db: &Db,
    id: Uuid,
    threshold: u32,
    lock_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Attempt>, sqlx::Error> {
    let sql = "UPDATE users SET \
                 failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END, \
                 locked_until = CASE \
                   WHEN (CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END) >= $2 \
                   THEN $3 ELSE NULL END, \
                 updated_at = $4 \
               WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $4) \
               RETURNING failed_logins, locked_until";
    let row: Option<(i32, Option<DateTime<Utc>>)> = on_db!(db, p => sqlx::query_as(sql)
        .bind(id)
        .bind(i64::from(threshold))
        .bind(lock_until)
        .bind(now)
        .fetch_optional(p)
        .await)?;
    Ok(row.map(|(count, locked_until)| Attempt {
        count,
        locked_until,
    }))
}

/// Clears the count after a correct password, unless the account is locked by
/// another attempt (one reserved while this one was being checked) or was
/// disabled meanwhile. A lock this attempt set itself is cleared. Returns
/// whether the login may proceed.
pub async fn record_success(
    db: &Db,
    id: Uuid,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = $2 \
               WHERE id = $1 AND disabled = FALSE \
                 AND (locked_until IS NULL OR locked_until <= $2 OR locked_until = $3)";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(now)
        .bind(attempt.locked_until)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Replaces the password hash (re-hash with new parameters, or a reset).
pub async fn set_password_hash(
    db: &Db,
    id: Uuid,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
    on_db!(db, p => sqlx::query(sql).bind(id).bind(hash).bind(now).execute(p).await.map(|_| ()))
}

/// What [`update_guarded`] did.
#[derive(Debug, Clone)]
pub enum Update {
    /// The row after the change.
    Done(UserRow),
    /// Refused: the change would leave no enabled admin.
    LastAdmin,
    /// No such user.
    NotFound,
}

/// Sets role and/or disabled, unless that would take the last enabled admin
/// away. The check is part of the UPDATE, so on SQLite (one writer at a time)
/// it is atomic with the write; on PostgreSQL the enabled admins' rows are
/// locked first, so two admins demoting each other at once cannot both see
/// the other still enabled.
pub async fn update_guarded(
    tx: &mut DbTx,
    id: Uuid,
    role: Option<&str>,
    disabled: Option<bool>,
    now: DateTime<Utc>,
) -> Result<Update, sqlx::Error> {
    let may_remove_admin = role.is_some_and(|r| r != "admin") || disabled == Some(true);
    if let (DbTx::Postgres(t), true) = (&mut *tx, may_remove_admin) {
        sqlx::query(
            "SELECT id FROM users WHERE role = 'admin' AND disabled = FALSE ORDER BY id FOR UPDATE",
        )
        .execute(&mut **t)
        .await?;
    }
    let sql = format!(
        "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), \
         updated_at = $4 WHERE id = $1 \
         AND (NOT (role = 'admin' AND disabled = FALSE) \
              OR (COALESCE($2, role) = 'admin' AND COALESCE($3, disabled) = FALSE) \
              OR EXISTS (SELECT 1 FROM users o \
                         WHERE o.id <> $1 AND o.role = 'admin' AND o.disabled = FALSE)) \
         RETURNING {COLUMNS}"
    );
    let row = on_tx!(tx, t => sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(role)
        .bind(disabled)
        .bind(now)
        .fetch_optional(&mut **t)
        .await)?;
    if let Some(row) = row {
        return Ok(Update::Done(row));
    }
    let sql = "SELECT COUNT(*) FROM users WHERE id = $1";
    let exists: i64 = on_tx!(tx, t => sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&mut **t)
        .await)?;
    Ok(if exists > 0 {
        Update::LastAdmin
    } else {
        Update::NotFound
    })
}

/// The ids of the enabled moderators and admins (who hear of escalated reports).
pub async fn moderator_ids(db: &Db) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql =
        "SELECT id FROM users WHERE role IN ('moderator', 'admin') AND NOT disabled ORDER BY id";
    on_db!(db, p => sqlx::query_scalar::<_, Uuid>(sql).fetch_all(p).await)
}

/// The ids of the enabled operators and admins (who get the system's events).
pub async fn staff_ids(db: &Db) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql =
        "SELECT id FROM users WHERE role IN ('operator', 'admin') AND NOT disabled ORDER BY id";
    on_db!(db, p => sqlx::query_scalar::<_, Uuid>(sql).fetch_all(p).await)
}
