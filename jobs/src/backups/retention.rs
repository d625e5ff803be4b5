//! Grandfather-father-son retention: which of a schedule's backups to keep.
//!
//! [`select`] is a pure function of the backups and the policy, so the prune
//! job and its tests share it. It keeps the newest backup of each of the
//! last `daily` days, `weekly` ISO weeks and `monthly` months that hold a
//! backup (days, weeks and months of the schedule's own time zone); one
//! backup may stand for its day, its week and its month at once. Two rules
//! hold whatever the input:
//!
//! - the newest verified backup is never deleted (when the buckets would
//!   drop it, it takes the place of the oldest one kept), so a restore can
//!   always use a backup known to restore;
//! - no more than `daily + weekly + monthly` backups are kept.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

/// How many backups of a schedule to keep (defaults 7/4/12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The newest backup of each of this many days.
    pub daily: u32,
    /// The newest backup of each of this many ISO weeks.
    pub weekly: u32,
    /// The newest backup of each of this many months.
    pub monthly: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

impl Policy {
    /// The most backups the policy keeps.
    pub fn total(&self) -> u32 {
        self.daily
            .saturating_add(self.weekly)
            .saturating_add(self.monthly)
    }

    /// A policy must keep at least one backup.
    pub fn validate(&self) -> Result<(), String> {
        if self.total() == 0 {
            return Err("retention keeps no backup: set daily, weekly or monthly above 0".into());
        }
        Ok(())
    }
}

/// A finished, successful backup of one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The backup's id.
    pub id: Uuid,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Whether `backup.verify` restored it successfully.
    pub verified: bool,
}

/// What to keep and what to delete; every candidate is in exactly one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Kept, newest first.
    pub keep: Vec<Uuid>,
    /// To delete, newest first.
    pub delete: Vec<Uuid>,
}

/// A calendar period of the schedule's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    fn of(self, at: DateTime<Utc>, tz: Tz) -> (i32, u32) {
        let local = at.with_timezone(&tz);
        match self {
            Period::Day => (local.year(), local.ordinal()),
            Period::Week => {
                let week = local.iso_week();
                (week.year(), week.week())
            }
            Period::Month => (local.year(), local.month()),
        }
    }
}

/// Chooses the backups to keep under `policy`; see the module docs.
pub fn select(backups: &[Candidate], policy: Policy, tz: Tz) -> Selection {
    let mut newest_first: Vec<&Candidate> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.finished_at.cmp(&a.finished_at).then(b.id.cmp(&a.id)));
    let mut keep = BTreeSet::new();
    for (limit, period) in [
        (policy.daily, Period::Day),
        (policy.weekly, Period::Week),
        (policy.monthly, Period::Month),
    ] {
        // Newest first, so a period's first backup is its newest, and the
        // periods come in order: a change of period is a new period.
        let mut taken = 0;
        let mut last = None;
        for b in &newest_first {
            if taken >= limit {
                break;
            }
            let p = period.of(b.finished_at, tz);
            if last == Some(p) {
                continue;
            }
            last = Some(p);
            taken += 1;
            keep.insert(b.id);
        }
    }
    if let Some(verified) = newest_first.iter().find(|b| b.verified)
        && !keep.contains(&verified.id)
    {
        if keep.len() >= policy.total() as usize
            && let Some(oldest) = newest_first.iter().rev().find(|b| keep.contains(&b.id))
        {
            keep.remove(&oldest.id);
        }
        keep.insert(verified.id);
    }
    let (kept, deleted): (Vec<&Candidate>, Vec<&Candidate>) =
        newest_first.iter().partition(|b| keep.contains(&b.id));
    Selection {
        keep: kept.iter().map(|b| b.id).collect(),
        delete: deleted.iter().map(|b| b.id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn backup(n: u128, at: DateTime<Utc>, verified: bool) -> Candidate {
        Candidate {
            id: Uuid::from_u128(n),
            finished_at: at,
            verified,
        }
    }

    #[test]
    fn a_daily_schedule_keeps_seven_days_four_weeks_and_twelve_months() {
        // One verified backup a day at 02:00 UTC for 400 days, newest on
        // Monday 2027-06-28.
        let newest = Utc
            .with_ymd_and_hms(2027, 6, 28, 2, 0, 0)
            .single()
            .expect("date");
        let backups: Vec<Candidate> = (0..400)
            .map(|d| backup(d, newest - chrono::Duration::days(d as i64), true))
            .collect();
        let s = select(&backups, Policy::default(), chrono_tz::UTC);
        let kept: BTreeSet<u128> = s.keep.iter().map(|id| id.as_u128()).collect();
        // The last 7 days.
        assert!((0..7).all(|d| kept.contains(&d)), "{kept:?}");
        // The newest of the 4 weeks (Sundays end ISO weeks): days 0, 1, 8, 15.
        for d in [1, 8, 15] {
            assert!(kept.contains(&d), "week ending {d} days ago: {kept:?}");
        }
        // The newest of 12 months: the last day of each earlier month.
        let month_ends = [28, 59, 89, 120, 148, 179, 210, 240, 271, 301, 332];
        for d in month_ends {
            assert!(kept.contains(&d), "month ending {d} days ago: {kept:?}");
        }
        assert_eq!(kept.len(), 7 + 2 + 11, "{kept:?}");
        assert_eq!(s.keep.len() + s.delete.len(), 400);
    }

    #[test]
    fn the_newest_verified_backup_survives_a_run_of_failed_verifies() {
        let newest = Utc
            .with_ymd_and_hms(2027, 6, 28, 2, 0, 0)
            .single()
            .expect("date");
        // 30 daily backups; only the one 20 days old was verified.
        let backups: Vec<Candidate> = (0..30)
            .map(|d| backup(d, newest - chrono::Duration::days(d as i64), d == 20))
            .collect();
        let policy = Policy {
            daily: 3,
            weekly: 0,
            monthly: 0,
        };
        let s = select(&backups, policy, chrono_tz::UTC);
        assert_eq!(
            s.keep,
            [Uuid::from_u128(0), Uuid::from_u128(1), Uuid::from_u128(20)],
            "it takes the place of the oldest daily"
        );
    }

    #[test]
    fn days_are_the_schedule_s_own() {
        // 22:30 and 23:30 UTC are one UTC day but two days in Europe/Berlin
        // (23:30 and 00:30 CET).
        let a = Utc
            .with_ymd_and_hms(2027, 1, 10, 22, 30, 0)
            .single()
            .expect("date");
        let b = Utc
            .with_ymd_and_hms(2027, 1, 10, 23, 30, 0)
            .single()
            .expect("date");
        let backups = [backup(1, a, false), backup(2, b, false)];
        let policy = Policy {
            daily: 2,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(select(&backups, policy, chrono_tz::UTC).keep.len(), 1);
        assert_eq!(
            select(&backups, policy, chrono_tz::Europe::Berlin)
                .keep
                .len(),
            2,
            "23:30 and 00:30 in Berlin"
        );
    }

    fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        prop::collection::vec(
            (0u128..u128::MAX, 0i64..(2 * 366 * 24 * 3600), any::<bool>()),
            0..120,
        )
        .prop_map(move |rows| {
            rows.into_iter()
                .map(|(id, secs, verified)| {
                    backup(id, start + chrono::Duration::seconds(secs), verified)
                })
                .collect()
        })
    }

    fn policies() -> impl Strategy<Value = Policy> {
        (0u32..10, 0u32..6, 0u32..14)
            .prop_filter("keeps something", |(d, w, m)| d + w + m > 0)
            .prop_map(|(daily, weekly, monthly)| Policy {
                daily,
                weekly,
                monthly,
            })
    }

    fn zones() -> impl Strategy<Value = Tz> {
        prop_oneof![
            Just(chrono_tz::UTC),
            Just(chrono_tz::Europe::Berlin),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Pacific::Auckland),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_deletes_the_newest_verified_and_never_keeps_more_than_the_policy(
            backups in candidates(),
            policy in policies(),
            tz in zones(),
        ) {
            let s = select(&backups, policy, tz);
            prop_assert!(s.keep.len() <= policy.total() as usize);
            let newest_verified = backups
                .iter()
                .filter(|b| b.verified)
                .max_by(|a, b| a.finished_at.cmp(&b.finished_at).then(a.id.cmp(&b.id)));
            if let Some(v) = newest_verified {
                prop_assert!(s.keep.contains(&v.id));
                prop_assert!(!s.delete.contains(&v.id));
            }
            // Every backup is decided once.
            let mut all: Vec<Uuid> = s.keep.iter().chain(&s.delete).copied().collect();
            all.sort();
            let mut ids: Vec<Uuid> = backups.iter().map(|b| b.id).collect();
            ids.sort();
            prop_assert_eq!(all, ids);
            // With a daily slot, the newest backup is kept, unless its one
            // slot went to the newest verified backup.
            if policy.daily > 0
                && policy.total() > 1
                && let Some(newest) = backups
                    .iter()
                    .max_by(|a, b| a.finished_at.cmp(&b.finished_at).then(a.id.cmp(&b.id)))
            {
                prop_assert!(s.keep.contains(&newest.id));
            }
        }
    }
}
