//! Settings of the notifications family (the `notifications` section).

use serde::{Deserialize, Serialize};

/// What a send promises when an attempt is cut off (a worker killed or its
/// lease lost) after it may have reached the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Send again once the cut-off attempt's hold runs out: nothing is lost,
    /// and a message the provider had accepted may arrive twice (an email with
    /// the same Message-ID).
    #[default]
    AtLeastOnce,
    /// Never send again: the delivery ends `unknown`, so nothing arrives
    /// twice, and a message that had not reached the provider is lost.
    AtMostOnce,
}

/// Notification delivery settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// What a notification found `sending` after the attempt that started it was cut off becomes: `at_least_once` sends it again, `at_most_once` ends it `unknown` (see docs/notifications.md) (default `at_least_once`).
    pub delivery: Guarantee,
    /// Overrides `delivery` for email (default: unset, `delivery`).
    pub email_delivery: Option<Guarantee>,
    /// Overrides `delivery` for push (default: unset, `delivery`).
    pub push_delivery: Option<Guarantee>,
}

impl NotificationsConfig {
    /// The guarantee of email.
    pub fn email(&self) -> Guarantee {
        self.email_delivery.unwrap_or(self.delivery)
    }

    /// The guarantee of push.
    pub fn push(&self) -> Guarantee {
        self.push_delivery.unwrap_or(self.delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_override_wins_over_the_default() {
        let c = NotificationsConfig {
            delivery: Guarantee::AtMostOnce,
            email_delivery: Some(Guarantee::AtLeastOnce),
            push_delivery: None,
        };
        assert_eq!(c.email(), Guarantee::AtLeastOnce);
        assert_eq!(c.push(), Guarantee::AtMostOnce);
        assert_eq!(
            NotificationsConfig::default().push(),
            Guarantee::AtLeastOnce
        );
    }
}
