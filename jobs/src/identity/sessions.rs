//! Sessions: refresh tokens, rotated on every use and revoked by family when
//! one is presented twice, and logout.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    audit::AuditEntry,
    roles::{Role, parse_role},
    service::{Identity, IdentityError, secret_hash},
};
use crate::{
    db::{
        DbTx, refresh_tokens,
        users::{self, UserRow},
    },
    secrets::random_token,
};

/// A signed-in user: the account plus a fresh refresh token (shown once).
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub user: UserRow,
    /// The user's role.
    pub role: Role,
    /// The opaque refresh token to hand to the client.
    pub refresh_token: String,
    /// When that token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

/// The result of a login attempt that did not fail for an infrastructure reason.
pub type LoginOutcome = Result<Session, IdentityError>;

impl Identity {
    /// Opens a session of `user` in the refresh-token `family`.
    pub(super) async fn open_session(
        &self,
        user: UserRow,
        family: Uuid,
        now: DateTime<Utc>,
    ) -> LoginOutcome {
        let mut tx = self.db.begin().await?;
        let session = self.issue_token(&mut tx, user, family, now).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Stores a new refresh token of `family` for `user` in `tx`.
    async fn issue_token(
        &self,
        tx: &mut DbTx,
        user: UserRow,
        family: Uuid,
        now: DateTime<Utc>,
    ) -> LoginOutcome {
        let token = format!("kiln_rt_{}", random_token(43));
        let expires = now + Duration::seconds(self.config.refresh_token_ttl_secs as i64);
        refresh_tokens::insert(tx, family, user.id, &secret_hash(&token), now, expires).await?;
        Ok(Session {
            role: parse_role(&user),
            user,
            refresh_token: token,
            refresh_expires_at: expires,
        })
    }

    /// Trades a refresh token for a new one in the same family. Presenting a
    /// token that was already used revokes its whole family: either the
    /// client or a thief holds a copy, and neither can be told apart.
    ///
    /// Consuming the token, reading the user and storing the successor are one
    /// transaction, and consuming refuses a token of a family with a revoked
    /// member, so a revocation that runs meanwhile ends the successor too.
    pub async fn refresh(&self, token: &str, from: &AuditEntry) -> LoginOutcome {
        let now = Utc::now();
        let hash = secret_hash(token);
        let mut tx = self.db.begin().await?;
        let consumed = refresh_tokens::consume(&mut tx, &hash, now).await?;
        if let Some(c) = consumed {
            let user = users::get_in_tx(&mut tx, c.user_id).await?;
            let Some(user) = user.filter(|u| !u.disabled) else {
                refresh_tokens::revoke_family_in_tx(&mut tx, c.family_id, now).await?;
                tx.commit().await?;
                return Err(IdentityError::InvalidRefreshToken);
            };
            let session = self.issue_token(&mut tx, user, c.family_id, now).await?;
            tx.commit().await?;
            return Ok(session);
        }
        tx.commit().await?;
        if let Some(state) = refresh_tokens::state(&self.db, &hash).await?
            && state.used_at.is_some()
        {
            let revoked = refresh_tokens::revoke_family(&self.db, state.family_id, now).await?;
            self.audit(
                "refresh_token_reuse",
                None,
                Some(state.user_id.to_string()),
                from,
                Some(serde_json::json!({"family_id": state.family_id, "revoked": revoked})),
            )
            .await;
        }
        Err(IdentityError::InvalidRefreshToken)
    }

    /// Ends sessions of `user_id`: the family of `token` when given (only if
    /// it is that user's), otherwise every session of the user.
    pub async fn logout(
        &self,
        user_id: Uuid,
        token: Option<&str>,
        from: &AuditEntry,
    ) -> Result<(), IdentityError> {
        let now = Utc::now();
        let revoked = match token {
            Some(t) => match refresh_tokens::state(&self.db, &secret_hash(t)).await? {
                Some(s) if s.user_id == user_id => {
                    refresh_tokens::revoke_family(&self.db, s.family_id, now).await?
                }
                _ => return Err(IdentityError::InvalidRefreshToken),
            },
            None => refresh_tokens::revoke_user(&self.db, user_id, now).await?,
        };
        let who = Some(user_id.to_string());
        self.audit(
            "logout",
            who.clone(),
            who,
            from,
            Some(serde_json::json!({"revoked": revoked})),
        )
        .await;
        Ok(())
    }
}
