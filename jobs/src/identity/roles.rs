//! Roles and API-key scopes: who may do what.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::db::users::UserRow;

/// Roles, from least to most privileged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Own media, jobs, reports, devices.
    #[default]
    User,
    /// Reviews reports.
    Moderator,
    /// Backups, schedules, queues.
    Operator,
    /// Everything, including users.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::User, Role::Moderator, Role::Operator, Role::Admin];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Operators and admins run the system (queues, backups) and see every job.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    /// Moderators and admins review content reports (operators do not).
    pub fn may_moderate(self) -> bool {
        matches!(self, Role::Moderator | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (user, moderator, operator or admin)"))
    }
}

/// What an API key may do. A bearer token carries every scope its role allows;
/// an API key carries the ones named at its creation, and never more than its
/// owner's role allows at the time of use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read own media.
    MediaRead,
    /// Upload and delete own media.
    MediaWrite,
    /// Read jobs.
    JobsRead,
    /// Cancel and retry jobs.
    JobsWrite,
    /// Read queue depths (operators).
    QueuesRead,
    /// Requeue dead jobs (operators).
    QueuesAdmin,
    /// Run and schedule backups (operators).
    BackupsAdmin,
    /// Send notifications to users (operators).
    NotificationsWrite,
    /// Read own webhook endpoints and their delivery logs.
    WebhooksRead,
    /// Create, change, test and delete own webhook endpoints.
    WebhooksWrite,
    /// Read own content reports.
    ReportsRead,
    /// File content reports.
    ReportsWrite,
    /// Review, act on and export content reports (moderators and admins).
    ReportsModerate,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 13] = [
        Scope::MediaRead,
        Scope::MediaWrite,
        Scope::JobsRead,
        Scope::JobsWrite,
        Scope::QueuesRead,
        Scope::QueuesAdmin,
        Scope::BackupsAdmin,
        Scope::NotificationsWrite,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::ReportsRead,
        Scope::ReportsWrite,
        Scope::ReportsModerate,
    ];

    /// The wire name, e.g. `media:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MediaRead => "media:read",
            Scope::MediaWrite => "media:write",
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::QueuesRead => "queues:read",
            Scope::QueuesAdmin => "queues:admin",
            Scope::BackupsAdmin => "backups:admin",
            Scope::NotificationsWrite => "notifications:write",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::ReportsRead => "reports:read",
            Scope::ReportsWrite => "reports:write",
            Scope::ReportsModerate => "reports:moderate",
        }
    }

    /// Whether `role` may hold this scope at all.
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            Scope::MediaRead
            | Scope::MediaWrite
            | Scope::JobsRead
            | Scope::JobsWrite
            | Scope::WebhooksRead
            | Scope::WebhooksWrite
            | Scope::ReportsRead
            | Scope::ReportsWrite => true,
            Scope::ReportsModerate => role.may_moderate(),
            Scope::QueuesRead
            | Scope::QueuesAdmin
            | Scope::BackupsAdmin
            | Scope::NotificationsWrite => role.is_staff(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}"))
    }
}

/// The role of a stored account.
pub(super) fn parse_role(row: &UserRow) -> Role {
    // The column has a CHECK constraint; an unknown value cannot be stored.
    row.role.parse().unwrap_or(Role::User)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("media:*".parse::<Scope>().is_err());
    }

    #[test]
    fn staff_scopes_need_a_staff_role() {
        assert!(!Scope::QueuesAdmin.allowed_for(Role::User));
        assert!(!Scope::BackupsAdmin.allowed_for(Role::Moderator));
        assert!(Scope::QueuesAdmin.allowed_for(Role::Operator));
        assert!(Scope::MediaWrite.allowed_for(Role::User));
        assert!(Scope::ReportsWrite.allowed_for(Role::User));
        assert!(!Scope::ReportsModerate.allowed_for(Role::User));
        assert!(!Scope::ReportsModerate.allowed_for(Role::Operator));
        assert!(Scope::ReportsModerate.allowed_for(Role::Moderator));
        assert!(Scope::ReportsModerate.allowed_for(Role::Admin));
    }
}
