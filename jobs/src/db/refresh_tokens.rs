//! Repository for refresh tokens (`refresh_tokens`): one row per token ever
//! issued, grouped in families that start at a login. A family with any
//! revoked token is dead: revocation always takes the whole family (or every
//! family of the user), so a token inserted while a revocation ran cannot
//! outlive it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    db::{Db, DbTx},
    on_db, on_tx,
};

/// The token a refresh consumed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Consumed {
    pub family_id: Uuid,
    pub user_id: Uuid,
}

/// What is known about a token that could not be consumed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenState {
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// Stores a new token of `family_id`.
pub async fn insert(
    tx: &mut DbTx,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, \
               expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
    on_tx!(tx, t => sqlx::query(sql)
        .bind(Uuid::now_v7())
        .bind(family_id)
        .bind(user_id)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&mut **t)
        .await
        .map(|_| ()))
}

/// Marks a live token of a live family used, in one statement so that of two
/// concurrent refreshes with the same token exactly one succeeds. The caller
/// inserts the successor in the same transaction.
pub async fn consume(
    tx: &mut DbTx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Consumed>, sqlx::Error> {
    let sql = "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
               AND revoked_at IS NULL AND expires_at > $2 \
               AND NOT EXISTS (SELECT 1 FROM refresh_tokens f \
                               WHERE f.family_id = refresh_tokens.family_id \
                                 AND f.revoked_at IS NOT NULL) \
               RETURNING family_id, user_id";
    on_tx!(tx, t => sqlx::query_as::<_, Consumed>(sql)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut **t)
        .await)
}

/// The state of a token, whatever it is.
pub async fn state(db: &Db, token_hash: &str) -> Result<Option<TokenState>, sqlx::Error> {
    let sql = "SELECT family_id, user_id, used_at, revoked_at, expires_at FROM refresh_tokens \
               WHERE token_hash = $1";
    on_db!(db, p => sqlx::query_as::<_, TokenState>(sql)
        .bind(token_hash)
        .fetch_optional(p)
        .await)
}

const REVOKE_FAMILY: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";

/// Revokes every live token of a family; returns how many.
pub async fn revoke_family(
    db: &Db,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(REVOKE_FAMILY)
        .bind(family_id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// [`revoke_family`] inside a transaction.
pub async fn revoke_family_in_tx(
    tx: &mut DbTx,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    on_tx!(tx, t => sqlx::query(REVOKE_FAMILY)
        .bind(family_id)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))
}

const REVOKE_USER: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";

/// Revokes every live token of a user (logout everywhere, disable, role change).
pub async fn revoke_user(db: &Db, user_id: Uuid, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(REVOKE_USER)
        .bind(user_id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// [`revoke_user`] inside a transaction.
pub async fn revoke_user_in_tx(
    tx: &mut DbTx,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    on_tx!(tx, t => sqlx::query(REVOKE_USER)
        .bind(user_id)
        .bind(now)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))
}
