//! Accounts: creation and registration, login with lockout, the password
//! policy, and user administration.

use chrono::{Duration, Utc};
use uuid::Uuid;

use super::{
    audit::AuditEntry,
    roles::{Role, parse_role},
    service::{Identity, IdentityError},
    sessions::LoginOutcome,
};
use crate::db::{
    is_unique_violation, refresh_tokens,
    users::{self, Update, UserRow},
};

/// Changes an admin may make to an account.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or re-enable (false).
    pub disabled: Option<bool>,
}

/// The canonical form of an email address: trimmed and lower-cased, so
/// uniqueness and lookups ignore case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A minimal syntactic check: one `@` with something on both sides, a dot in
/// the domain, no whitespace, at most 254 characters.
pub fn valid_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(char::is_whitespace) {
        return false;
    }
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Longest password accepted, in bytes (hashing cost grows with length).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password against the policy; the error says what is wrong.
pub fn check_password_policy(password: &str, email: &str, min_chars: usize) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(format!(
            "the password must have at least {min_chars} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    let lowered = password.trim().to_lowercase();
    let email = normalize_email(email);
    let local = email.split('@').next().unwrap_or_default();
    if lowered == email || (!local.is_empty() && lowered == local) {
        return Err("the password must not be the email address".into());
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(c))
    {
        return Err("the password must not repeat a single character".into());
    }
    Ok(())
}

impl Identity {
    /// Creates an account (`kiln user create`, or registration with `role = User`).
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<UserRow, IdentityError> {
        let email = normalize_email(email);
        if !valid_email(&email) {
            return Err(IdentityError::Invalid(
                "email is not a valid address".into(),
            ));
        }
        check_password_policy(password, &email, self.config.password_min_length)
            .map_err(IdentityError::Invalid)?;
        let hash = self.passwords.hash(password).await?;
        let id = Uuid::now_v7();
        match users::insert(&self.db, id, &email, &hash, role.as_str(), Utc::now()).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(IdentityError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        users::get(&self.db, id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Self-service registration, when open: always the `user` role.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        from: &AuditEntry,
    ) -> Result<UserRow, IdentityError> {
        if !self.config.allow_registration {
            return Err(IdentityError::RegistrationClosed);
        }
        let user = self.create_user(email, password, Role::User).await?;
        self.audit(
            "user_registered",
            Some(user.id.to_string()),
            Some(user.id.to_string()),
            from,
            None,
        )
        .await;
        Ok(user)
    }

    /// Checks email and password and opens a session. Every failure costs one
    /// argon2 verification and answers [`IdentityError::InvalidCredentials`].
    ///
    /// The attempt is counted before its password is checked
    /// ([`users::reserve_attempt`]), so however many guesses are in flight at
    /// most `lockout_threshold` are checked per lock window. A locked,
    /// disabled or unknown account is answered after a dummy verification,
    /// never a real one. The permit is taken first: a login refused as busy
    /// has counted nothing.
    pub async fn login(&self, email: &str, password: &str, from: &AuditEntry) -> LoginOutcome {
        let email = normalize_email(email);
        let slot = self.passwords.slot().await?;
        let now = Utc::now();
        let user = users::by_email(&self.db, &email).await?;
        let attempt = match &user {
            Some(u) if !u.disabled => {
                let until = now + Duration::seconds(self.config.lockout_secs as i64);
                let threshold = self.config.lockout_threshold;
                users::reserve_attempt(&self.db, u.id, threshold, until, now).await?
            }
            _ => None,
        };
        let (user, attempt) = match (user, attempt) {
            (Some(user), Some(attempt)) => (user, attempt),
            (user, _) => {
                slot.verify_dummy(password).await?;
                drop(slot);
                let reason = match &user {
                    None => "unknown_account",
                    Some(u) if u.disabled => "disabled",
                    Some(_) => "locked",
                };
                let subject = user.map(|u| u.id.to_string());
                return self.login_failed(subject, reason, from).await;
            }
        };
        let subject = Some(user.id.to_string());
        if !slot.verify(password, &user.password_hash).await? {
            drop(slot);
            if let Some(until) = attempt.locked_until {
                self.audit(
                    "account_locked",
                    None,
                    subject.clone(),
                    from,
                    Some(
                        serde_json::json!({"failed_logins": attempt.count, "locked_until": until}),
                    ),
                )
                .await;
            }
            return self.login_failed(subject, "wrong_password", from).await;
        }
        if !users::record_success(&self.db, user.id, &attempt, now).await? {
            drop(slot);
            return self.login_failed(subject, "locked", from).await;
        }
        if self.passwords.needs_rehash(&user.password_hash) {
            let hash = slot.hash(password).await?;
            users::set_password_hash(&self.db, user.id, &hash, now).await?;
        }
        drop(slot);
        self.audit("login_succeeded", subject.clone(), subject, from, None)
            .await;
        self.open_session(user, Uuid::now_v7(), now).await
    }

    /// Audits a failed login and answers it.
    async fn login_failed(
        &self,
        subject: Option<String>,
        reason: &str,
        from: &AuditEntry,
    ) -> LoginOutcome {
        self.audit(
            "login_failed",
            None,
            subject,
            from,
            Some(serde_json::json!({"reason": reason})),
        )
        .await;
        Err(IdentityError::InvalidCredentials)
    }

    /// One account.
    pub async fn user(&self, id: Uuid) -> Result<UserRow, IdentityError> {
        users::get(&self.db, id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// A page of accounts in id order.
    pub async fn users(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<UserRow>, IdentityError> {
        Ok(users::list(&self.db, after, limit).await?)
    }

    /// An admin changes a role or the disabled flag. The last enabled admin
    /// cannot be demoted or disabled, checked atomically with the change
    /// ([`users::update_guarded`]); a demoted or disabled user's sessions end
    /// in the same transaction.
    pub async fn update_user(
        &self,
        admin: Uuid,
        id: Uuid,
        patch: &UserPatch,
        from: &AuditEntry,
    ) -> Result<UserRow, IdentityError> {
        // Read for the audit trail and to see a demotion; the guard itself
        // looks at the row as it is when the UPDATE runs.
        let before = self.user(id).await?;
        let old_role = parse_role(&before);
        let now = Utc::now();
        let mut tx = self.db.begin().await?;
        let role = patch.role.map(Role::as_str);
        let after = match users::update_guarded(&mut tx, id, role, patch.disabled, now).await? {
            Update::Done(row) => row,
            Update::LastAdmin => {
                return Err(IdentityError::Conflict(
                    "this is the last enabled admin; promote another admin first".into(),
                ));
            }
            Update::NotFound => return Err(IdentityError::NotFound),
        };
        let demoted = patch.role.is_some_and(|r| r < old_role);
        if patch.disabled == Some(true) || demoted {
            refresh_tokens::revoke_user_in_tx(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        let (actor, subject) = (Some(admin.to_string()), Some(id.to_string()));
        if let Some(role) = patch.role.filter(|r| *r != old_role) {
            self.audit(
                "role_changed",
                actor.clone(),
                subject.clone(),
                from,
                Some(serde_json::json!({"from": old_role.as_str(), "to": role.as_str()})),
            )
            .await;
        }
        if let Some(d) = patch.disabled.filter(|d| *d != before.disabled) {
            let action = if d { "user_disabled" } else { "user_enabled" };
            self.audit(action, actor, subject, from, None).await;
        }
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_rejects_short_passwords_and_the_email() {
        let email = "Alice@Example.com";
        assert!(check_password_policy("short", email, 12).is_err());
        assert!(check_password_policy("alice@example.com", email, 12).is_err());
        assert!(check_password_policy("ALICE@EXAMPLE.COM", email, 12).is_err());
        assert!(check_password_policy("aaaaaaaaaaaaaaaa", email, 12).is_err());
        assert!(check_password_policy(&"x".repeat(2000), email, 12).is_err());
        assert!(check_password_policy("correct horse battery", email, 12).is_ok());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalize_email("  Bob@Example.COM "), "bob@example.com");
        assert!(valid_email("bob@example.com"));
        for bad in [
            "bob",
            "@example.com",
            "bob@",
            "bob@example",
            "b ob@example.com",
            "a@b@c.d",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
