//! Content reports against real databases: the moderator list's plans at
//! 100,000 reports (an index, never a sequential scan of `reports`), and
//! paging by target in both orders.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use kiln_jobs::{
    db::DbKind,
    reports::{
        Filter, Reason, ReportStatus, TargetType,
        repo::{self, GroupCursor, Sort},
    },
    testing::{Backend, TestContext, explain_report_groups, seed_reports},
};

#[tokio::test]
async fn moderator_list_reads_an_index_for_every_filter_and_sort_postgres() {
    let ctx = TestContext::new(DbKind::Postgres, |_| {}).await;
    let app = &ctx.app;
    seed_reports(app, 100_000).await;
    let kiln_jobs::db::Db::Postgres(pool) = &app.db else {
        unreachable!("a PostgreSQL context")
    };
    sqlx::query("ANALYZE reports")
        .execute(pool)
        .await
        .expect("analyze");
    let (from, _): (chrono::DateTime<Utc>, i64) =
        sqlx::query_as("SELECT MIN(created_at), COUNT(*) FROM reports")
            .fetch_one(pool)
            .await
            .expect("range");
    let filters = [
        ("none", Filter::default()),
        (
            "status",
            Filter {
                status: Some(ReportStatus::Open),
                ..Filter::default()
            },
        ),
        (
            "reason",
            Filter {
                reason: Some(Reason::Spam),
                ..Filter::default()
            },
        ),
        (
            "target_type",
            Filter {
                target_type: Some(TargetType::External),
                ..Filter::default()
            },
        ),
        (
            "target_id",
            Filter {
                target_id: Some("comment-77".into()),
                ..Filter::default()
            },
        ),
        (
            "created range",
            Filter {
                created_after: Some(from + Duration::seconds(50_000)),
                created_before: Some(from + Duration::seconds(51_000)),
                ..Filter::default()
            },
        ),
        (
            "status and reason",
            Filter {
                status: Some(ReportStatus::Reviewing),
                reason: Some(Reason::Illegal),
                ..Filter::default()
            },
        ),
    ];
    for (name, filter) in &filters {
        for sort in [Sort::Priority, Sort::Age] {
            let plan = explain_report_groups(app, filter, sort, 51).await;
            assert!(
                plan.contains("Index Scan")
                    || plan.contains("Index Only Scan")
                    || plan.contains("Bitmap Index Scan"),
                "{name}, {sort:?}: no index scan\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan on reports"),
                "{name}, {sort:?}: a sequential scan of reports\n{plan}"
            );
        }
    }
}

kiln_jobs::per_backend!(groups_page_through_every_target_once, [sqlite, postgres]);
async fn groups_page_through_every_target_once(backend: Backend) {
    let ctx = TestContext::with_backend(backend, |_| {}).await;
    let app = &ctx.app;
    let total = 3_000;
    seed_reports(app, total).await;
    for (sort, filter) in [
        (Sort::Priority, Filter::default()),
        (Sort::Age, Filter::default()),
        (
            Sort::Priority,
            Filter {
                status: Some(ReportStatus::Open),
                ..Filter::default()
            },
        ),
    ] {
        let expected = repo::count(&app.db, &filter).await.expect("count");
        let mut seen = HashSet::new();
        let mut reports = 0;
        let mut after = None;
        let mut last: Option<(f64, chrono::DateTime<Utc>)> = None;
        loop {
            let page = repo::groups(&app.db, &filter, sort, after, 50)
                .await
                .expect("page");
            for g in &page {
                assert!(seen.insert(g.target_ref), "{sort:?}: a target twice");
                reports += g.reports;
                if let Some((p, a)) = last {
                    match sort {
                        Sort::Priority => assert!(g.priority <= p, "priority order"),
                        Sort::Age => assert!(g.target_first_at >= a, "age order"),
                    }
                }
                last = Some((g.priority, g.target_first_at));
            }
            let Some(g) = page.last().filter(|_| page.len() == 50) else {
                break;
            };
            after = Some(match sort {
                Sort::Priority => GroupCursor::Priority(g.priority, g.target_ref),
                Sort::Age => GroupCursor::Age(g.target_first_at, g.target_ref),
            });
        }
        assert_eq!(
            reports, expected,
            "{sort:?}: every selected report counted once"
        );
    }
}
