//! Repository for push devices (`devices`), and their platform.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{db::Db, on_db};

/// The platform of a device: the `platform` column of `devices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Android app.
    Android,
    /// iOS app (through FCM's APNs bridge).
    Ios,
    /// Web push (FCM JavaScript SDK).
    Web,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 3] = [Platform::Android, Platform::Ios, Platform::Web];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }
}

crate::stored_name!(Platform, "device platform");

/// A `devices` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token: String,
    #[sqlx(try_from = "String")]
    pub platform: Platform,
    pub app_version: Option<String>,
    pub active: bool,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, user_id, token, platform, app_version, active, last_error, created_at, updated_at";

/// Values of a registration.
#[derive(Debug, Clone)]
pub struct Register<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token: &'a str,
    pub platform: Platform,
    pub app_version: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Registers a token, or refreshes the row that already holds it: a token names
/// one app install, so it moves to whoever registers it last and is active
/// again. Returns the row and whether it was new.
pub async fn upsert(db: &Db, r: &Register<'_>) -> Result<(DeviceRow, bool), sqlx::Error> {
    let sql = format!(
        "INSERT INTO devices (id, user_id, token, platform, app_version, active, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) \
         ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, \
         platform = excluded.platform, app_version = excluded.app_version, active = TRUE, \
         last_error = NULL, updated_at = excluded.updated_at RETURNING {COLUMNS}"
    );
    let row = on_db!(db, p => sqlx::query_as::<_, DeviceRow>(sqlx::AssertSqlSafe(sql))
        .bind(r.id)
        .bind(r.user_id)
        .bind(r.token)
        .bind(r.platform.as_str())
        .bind(r.app_version)
        .bind(r.now)
        .fetch_one(p)
        .await)?;
    let created = row.id == r.id;
    Ok((row, created))
}

/// [`upsert`], unless the user already has `max` devices and the token is
/// not one of them: then `None`. The cap is checked atomically with the
/// write (see [`crate::db::lock_owner`]), so parallel registrations cannot
/// pass it together.
pub async fn upsert_capped(
    db: &Db,
    r: &Register<'_>,
    max: i64,
) -> Result<Option<(DeviceRow, bool)>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO devices (id, user_id, token, platform, app_version, active, created_at, \
         updated_at) SELECT $1, $2, $3, $4, $5, TRUE, $6, $6 \
         WHERE (SELECT COUNT(*) FROM devices WHERE user_id = $2) < $7 \
            OR EXISTS (SELECT 1 FROM devices WHERE token = $3 AND user_id = $2) \
         ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, \
         platform = excluded.platform, app_version = excluded.app_version, active = TRUE, \
         last_error = NULL, updated_at = excluded.updated_at RETURNING {COLUMNS}"
    );
    macro_rules! upsert {
        () => {
            sqlx::query_as::<_, DeviceRow>(sqlx::AssertSqlSafe(sql))
                .bind(r.id)
                .bind(r.user_id)
                .bind(r.token)
                .bind(r.platform.as_str())
                .bind(r.app_version)
                .bind(r.now)
                .bind(max)
        };
    }
    let row = match db {
        Db::Sqlite(p) => upsert!().fetch_optional(p).await?,
        Db::Postgres(p) => {
            let mut tx = p.begin().await?;
            crate::db::lock_owner(&mut tx, r.user_id).await?;
            let row = upsert!().fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            row
        }
    };
    Ok(row.map(|row| {
        let created = row.id == r.id;
        (row, created)
    }))
}

/// A user's devices, newest first; inactive ones too when `all`.
pub async fn list(db: &Db, user_id: Uuid, all: bool) -> Result<Vec<DeviceRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM devices WHERE user_id = $1 AND ($2 OR active = TRUE) \
         ORDER BY id DESC"
    );
    on_db!(db, p => sqlx::query_as::<_, DeviceRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(all)
        .fetch_all(p)
        .await)
}

/// One device.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<DeviceRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, DeviceRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Deletes a device of `user_id`; false when there is none.
pub async fn delete(db: &Db, id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM devices WHERE id = $1 AND user_id = $2";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Marks a token dead (FCM answered UNREGISTERED), unless it was registered
/// again since `token` was read: only the row still holding that token changes.
pub async fn deactivate(
    db: &Db,
    id: Uuid,
    token: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE devices SET active = FALSE, last_error = $3, updated_at = $4 \
               WHERE id = $1 AND token = $2 AND active = TRUE";
    on_db!(db, p => sqlx::query(sql)
        .bind(id)
        .bind(token)
        .bind(reason)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// How many devices a user has (registration is capped).
pub async fn count(db: &Db, user_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM devices WHERE user_id = $1";
    on_db!(db, p => sqlx::query_scalar(sql).bind(user_id).fetch_one(p).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_round_trip_through_their_names() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
            assert_eq!(Platform::try_from(p.to_string()), Ok(p));
        }
    }

    #[test]
    fn an_unknown_platform_is_an_error() {
        assert!("windows".parse::<Platform>().is_err());
        assert!("iOS".parse::<Platform>().is_err());
        assert!(Platform::try_from(String::new()).is_err());
    }
}
