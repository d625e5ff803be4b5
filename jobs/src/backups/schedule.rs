//! When a backup schedule fires: a cron expression (five fields, or six with
//! seconds first) read in an IANA time zone.
//!
//! Ticks are instants (UTC), found in the schedule's own wall clock, so
//! daylight-saving changes behave the way cron users expect (croner follows
//! the Open Cron Pattern Specification here):
//!
//! - **A time that does not exist** (spring forward, e.g. 02:30 on the last
//!   Sunday of March in Europe/Berlin) runs once, at the first instant after
//!   the gap (03:00 local).
//! - **A time that occurs twice** (fall back, 02:30 on the last Sunday of
//!   October) runs once, at its first occurrence (02:30 CEST).
//!
//! A scheduler asks [`Schedule::due`] with the last tick it ran: every tick
//! missed while no worker was up collapses into the latest one, which runs
//! once. Each tick is enqueued under [`tick_key`], so replicas that see the
//! same tick make one backup.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds},
};
use uuid::Uuid;

/// Why a schedule's cron expression or time zone was refused; [`field`]
/// names the offending field for the API's 422.
///
/// [`field`]: ScheduleError::field
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse, or never matches.
    #[error("cron expression {expression:?}: {reason}")]
    Cron {
        /// The expression as given.
        expression: String,
        /// croner's explanation.
        reason: String,
    },
    /// Not an IANA time zone name.
    #[error("time zone {0:?} is not an IANA time zone name (e.g. Europe/Berlin, UTC)")]
    Timezone(String),
}

impl ScheduleError {
    /// The request field at fault: `cron` or `timezone`.
    pub fn field(&self) -> &'static str {
        match self {
            ScheduleError::Cron { .. } => "cron",
            ScheduleError::Timezone(_) => "timezone",
        }
    }
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    /// Parses `expression` (five fields, or six with seconds first; names
    /// such as `MON` and `@daily` are accepted) in `timezone`.
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| ScheduleError::Timezone(timezone.to_owned()))?;
        let cron_error = |reason: String| ScheduleError::Cron {
            expression: expression.to_owned(),
            reason,
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|e| cron_error(e.to_string()))?;
        let schedule = Schedule { cron, tz };
        // An expression that parses but never matches (`0 0 31 2 *`) is as
        // useless as one that does not parse.
        if schedule.next_after(Utc::now()).is_none() {
            return Err(cron_error("it never matches a real date".to_owned()));
        }
        Ok(schedule)
    }

    /// The schedule's time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first tick strictly after `after`; `None` when there is none
    /// within croner's search limit (an expression that never matches).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The tick to run at `now` for a scheduler whose last run tick (or, for
    /// a new schedule, its creation time) is `last`: the latest tick in
    /// `(last, now]`, however many were missed, or `None` when nothing is due.
    pub fn due(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = self
            .cron
            .find_previous_occurrence(&now.with_timezone(&self.tz), true)
            .ok()?
            .with_timezone(&Utc);
        (latest > last).then_some(latest)
    }
}

/// The idempotency key of one tick's backup job: every replica that sees
/// the tick enqueues under the same key, so the ledger keeps one job.
pub fn tick_key(schedule: Uuid, tick: DateTime<Utc>) -> String {
    format!("schedule:{schedule}:{}", tick.timestamp())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    /// Every tick in `[from, to)`.
    fn ticks(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut at = from - chrono::Duration::seconds(1);
        while let Some(next) = s.next_after(at) {
            if next >= to {
                break;
            }
            out.push(next);
            at = next;
        }
        out
    }

    #[test]
    fn a_daily_time_is_read_in_the_schedule_s_zone() {
        let s = Schedule::parse("30 3 * * *", "Europe/Berlin").expect("parse");
        // 03:30 CET is 02:30 UTC in January.
        assert_eq!(
            s.next_after(utc("2027-01-10T00:00:00Z")),
            Some(utc("2027-01-10T02:30:00Z"))
        );
        // 03:30 CEST is 01:30 UTC in July.
        assert_eq!(
            s.next_after(utc("2027-07-10T00:00:00Z")),
            Some(utc("2027-07-10T01:30:00Z"))
        );
    }

    #[test]
    fn a_seconds_field_is_optional() {
        let five = Schedule::parse("0 4 * * *", "UTC").expect("five fields");
        let six = Schedule::parse("15 0 4 * * *", "UTC").expect("six fields");
        let from = utc("2027-03-01T00:00:00Z");
        assert_eq!(five.next_after(from), Some(utc("2027-03-01T04:00:00Z")));
        assert_eq!(six.next_after(from), Some(utc("2027-03-01T04:00:15Z")));
    }

    /// Spring forward in Europe/Berlin, 2027-03-28: 02:00 CET jumps to 03:00
    /// CEST, so 02:30 does not exist that day.
    #[test]
    fn a_time_that_does_not_exist_runs_once_at_the_next_valid_instant_europe_berlin() {
        let s = Schedule::parse("30 2 * * *", "Europe/Berlin").expect("parse");
        let got = ticks(&s, utc("2027-03-27T00:00:00Z"), utc("2027-03-30T00:00:00Z"));
        let berlin = |y, mo, d, h, mi| {
            chrono_tz::Europe::Berlin
                .with_ymd_and_hms(y, mo, d, h, mi, 0)
                .single()
                .expect("a real local time")
                .with_timezone(&Utc)
        };
        assert_eq!(
            got,
            [
                berlin(2027, 3, 27, 2, 30),
                // The gap day: once, at 03:00 CEST (01:00 UTC).
                berlin(2027, 3, 28, 3, 0),
                berlin(2027, 3, 29, 2, 30),
            ]
        );
        assert_eq!(got[1], utc("2027-03-28T01:00:00Z"));
    }

    /// Fall back in Europe/Berlin, 2027-10-31: 03:00 CEST goes back to 02:00
    /// CET, so 02:30 happens twice that night.
    #[test]
    fn a_time_that_occurs_twice_runs_once_europe_berlin() {
        let s = Schedule::parse("30 2 * * *", "Europe/Berlin").expect("parse");
        let got = ticks(&s, utc("2027-10-30T00:00:00Z"), utc("2027-11-02T00:00:00Z"));
        assert_eq!(got.len(), 3, "{got:?}");
        // The first 02:30, CEST (00:30 UTC); never the second (01:30 UTC).
        assert!(got.contains(&utc("2027-10-31T00:30:00Z")), "{got:?}");
        assert!(!got.contains(&utc("2027-10-31T01:30:00Z")), "{got:?}");
    }

    #[test]
    fn missed_ticks_collapse_into_the_latest() {
        let s = Schedule::parse("0 * * * *", "UTC").expect("hourly");
        let last = utc("2027-05-01T00:00:00Z");
        // Workers were down from 00:00 to 05:20: five ticks missed, one due.
        assert_eq!(
            s.due(last, utc("2027-05-01T05:20:00Z")),
            Some(utc("2027-05-01T05:00:00Z"))
        );
        // That tick ran: nothing more until 06:00.
        let ran = utc("2027-05-01T05:00:00Z");
        assert_eq!(s.due(ran, utc("2027-05-01T05:59:59Z")), None);
        assert_eq!(
            s.due(ran, utc("2027-05-01T06:00:00Z")),
            Some(utc("2027-05-01T06:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_and_zones_name_their_field() {
        for (cron, tz, field) in [
            ("61 * * * *", "UTC", "cron"),
            ("* * *", "UTC", "cron"),
            ("", "UTC", "cron"),
            ("0 0 31 2 *", "UTC", "cron"),
            ("0 3 * * *", "Mars/Olympus_Mons", "timezone"),
            ("0 3 * * *", "", "timezone"),
        ] {
            let err = Schedule::parse(cron, tz).expect_err(cron);
            assert_eq!(err.field(), field, "{cron:?} {tz:?}: {err}");
        }
    }

    #[test]
    fn a_tick_s_key_is_the_same_for_every_replica() {
        let id = Uuid::now_v7();
        let tick = utc("2027-05-01T05:00:00Z");
        assert_eq!(tick_key(id, tick), format!("schedule:{id}:1809147600"));
        assert_eq!(tick_key(id, tick), tick_key(id, tick));
    }
}
