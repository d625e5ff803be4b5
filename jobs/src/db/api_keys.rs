//! Repository for API keys (`api_keys`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{db::Db, on_db};

/// An `api_keys` row as stored (never the key itself, only its hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live key with its owner's current role, for authentication.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyOwner {
    pub id: Uuid,
    pub user_id: Uuid,
    pub scopes: String,
    pub role: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at";

/// Values of a new key.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Inserts a key unless its owner already has `max` live ones; false when
/// refused. The count and the insert are one atomic step, so parallel
/// creations cannot pass the cap together: one guarded statement on SQLite
/// (a write statement holds the database's write lock from its start), and
/// on PostgreSQL the same statement after locking the owner's `users` row,
/// which queues concurrent creations for the same owner.
pub async fn insert_capped(db: &Db, k: &NewKey<'_>, max: i64) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at, \
               expires_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
               WHERE (SELECT COUNT(*) FROM api_keys WHERE user_id = $2 AND revoked_at IS NULL) < $9";
    macro_rules! insert {
        () => {
            sqlx::query(sql)
                .bind(k.id)
                .bind(k.user_id)
                .bind(k.name)
                .bind(k.prefix)
                .bind(k.key_hash)
                .bind(k.scopes)
                .bind(k.now)
                .bind(k.expires_at)
                .bind(max)
        };
    }
    let inserted = match db {
        Db::Sqlite(p) => insert!().execute(p).await?.rows_affected(),
        Db::Postgres(p) => {
            let mut tx = p.begin().await?;
            super::lock_owner(&mut tx, k.user_id).await?;
            let inserted = insert!().execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            inserted
        }
    };
    Ok(inserted == 1)
}

/// A user's keys, newest first, revoked ones included.
pub async fn list(db: &Db, user_id: Uuid) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id DESC");
    on_db!(db, p => sqlx::query_as::<_, ApiKeyRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(p)
        .await)
}

/// The live key with this hash whose owner is enabled.
pub async fn authenticate(
    db: &Db,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<KeyOwner>, sqlx::Error> {
    let sql = "SELECT k.id, k.user_id, k.scopes, u.role, k.last_used_at FROM api_keys k \
               JOIN users u ON u.id = k.user_id \
               WHERE k.key_hash = $1 AND k.revoked_at IS NULL \
                 AND (k.expires_at IS NULL OR k.expires_at > $2) AND u.disabled = FALSE";
    on_db!(db, p => sqlx::query_as::<_, KeyOwner>(sql)
        .bind(key_hash)
        .bind(now)
        .fetch_optional(p)
        .await)
}

/// Records a use.
pub async fn touch(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let sql = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
    on_db!(db, p => sqlx::query(sql).bind(id).bind(now).execute(p).await.map(|_| ()))
}

/// Revokes a live key of `user_id`; false when there is none.
pub async fn revoke(
    db: &Db,
    id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 \
               AND revoked_at IS NULL";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(user_id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// How many live keys a user has (creation is capped).
pub async fn count_live(db: &Db, user_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL";
    on_db!(db, p => sqlx::query_scalar(sql).bind(user_id).fetch_one(p).await)
}
