//! Email over real SMTP (to the in-process sink) and to the outbox folder.

use std::{sync::Arc, time::Duration};

use kiln_jobs::{
    delivery::{
        DeliveryError,
        config::MailConfig,
        email::{EmailMessage, Mailer, Templates, Via},
    },
    metrics::Metrics,
};
use mail_parser::MessageParser;
use serde_json::json;

use kiln_jobs::testing::smtp_sink::{Script, SmtpSink};

const FROM: &str = "Kiln <noreply@kiln.test>";

fn smtp_mailer(url: &str, timeout_secs: u64) -> Mailer {
    let cfg = MailConfig {
        smtp_url: Some(url.into()),
        from: FROM.into(),
        timeout_secs,
        pool_size: 2,
    };
    Mailer::from_config(&cfg, std::path::Path::new("unused")).expect("mailer")
}

fn welcome(to: &str, key: Option<&str>) -> EmailMessage {
    let templates = Templates::embedded().expect("templates");
    EmailMessage::from_template(
        &templates,
        "welcome",
        to,
        &json!({"display_name": "Ada & Bob", "app_url": "https://kiln.test"}),
        key.map(str::to_owned),
    )
    .expect("render")
}

fn plain(to: &str) -> EmailMessage {
    EmailMessage {
        to: to.into(),
        subject: "hi".into(),
        text: "hello".into(),
        html: None,
        idempotency_key: None,
    }
}

#[tokio::test]
async fn smtp_delivers_a_multipart_email_with_a_stable_message_id() {
    let sink = SmtpSink::start(Script::default()).await;
    let metrics = Arc::new(Metrics::new());
    let mailer = smtp_mailer(&sink.url(), 5).with_metrics(metrics.clone());
    assert!(mailer.is_smtp());

    let sent = mailer
        .send(&welcome("Ada <ada@example.com>", Some("welcome:user-42")))
        .await
        .expect("sent");
    assert_eq!(sent.via, Via::Smtp);
    assert_eq!(sent.message_id, mailer.message_id(Some("welcome:user-42")));
    assert!(
        sent.message_id.ends_with("@kiln.test>"),
        "{}",
        sent.message_id
    );
    // The same key gives the same id on a redelivery; another key does not.
    assert_eq!(
        mailer.message_id(Some("welcome:user-42")),
        smtp_mailer(&sink.url(), 5).message_id(Some("welcome:user-42"))
    );
    assert_ne!(sent.message_id, mailer.message_id(Some("welcome:user-43")));

    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mail_from, "noreply@kiln.test");
    assert_eq!(got[0].rcpt_to, ["ada@example.com"]);
    let msg = MessageParser::default()
        .parse(&got[0].data)
        .expect("parsable message");
    let from = msg.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.address(), Some("noreply@kiln.test"));
    assert_eq!(from.name(), Some("Kiln"));
    let to = msg.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("ada@example.com"));
    assert_eq!(msg.subject(), Some("Welcome to Kiln, Ada & Bob"));
    assert_eq!(
        msg.message_id().map(|id| format!("<{id}>")),
        Some(sent.message_id.clone())
    );
    let text = msg.body_text(0).expect("text part");
    assert!(text.contains("Hello Ada & Bob,"), "{text}");
    let html = msg.body_html(0).expect("html part");
    assert!(html.contains("Hello Ada &amp; Bob,"), "{html}");
    // minijinja escapes `/` too; any HTML parser reads the same URL.
    assert!(
        html.contains(r#"<a href="https:&#x2f;&#x2f;kiln.test">"#),
        "{html}"
    );

    assert!(
        metrics
            .render()
            .contains(r#"kiln_notifications_total{channel="email",outcome="sent"} 1"#),
        "{}",
        metrics.render()
    );
}

#[tokio::test]
async fn the_pool_reuses_a_connection_for_several_emails() {
    let sink = SmtpSink::start(Script::default()).await;
    let mailer = smtp_mailer(&sink.url(), 5);
    for i in 0..3 {
        mailer
            .send(&plain(&format!("u{i}@example.com")))
            .await
            .expect("sent");
    }
    let got = sink.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].rcpt_to, ["u2@example.com"]);
}

#[tokio::test]
async fn a_permanent_550_for_the_recipient_aborts() {
    let sink = SmtpSink::start(Script::refusing(
        "gone@example.com",
        "550 5.1.1 no such user",
    ))
    .await;
    let metrics = Arc::new(Metrics::new());
    let err = smtp_mailer(&sink.url(), 5)
        .with_metrics(metrics.clone())
        .send(&plain("gone@example.com"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, DeliveryError::Abort { reason } if reason.contains("550")),
        "{err:?}"
    );
    assert!(sink.received().is_empty());
    assert!(
        metrics
            .render()
            .contains(r#"kiln_notifications_total{channel="email",outcome="abort"} 1"#)
    );
}

#[tokio::test]
async fn temporary_4xx_replies_retry() {
    let sink = SmtpSink::start(Script::refusing(
        "full@example.com",
        "451 4.3.0 try again later",
    ))
    .await;
    let err = smtp_mailer(&sink.url(), 5)
        .send(&plain("full@example.com"))
        .await
        .expect_err("deferred");
    assert!(
        matches!(&err, DeliveryError::Retry { reason, .. } if reason.contains("451")),
        "{err:?}"
    );

    let busy = SmtpSink::start(Script {
        greeting: Some("421 4.3.2 service not available".into()),
        ..Script::default()
    })
    .await;
    let err = smtp_mailer(&busy.url(), 5)
        .send(&plain("a@example.com"))
        .await
        .expect_err("closed");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn authentication_refusals_retry_because_they_are_configuration_faults() {
    let sink = SmtpSink::start(Script::refusing(
        "x@example.com",
        "530 5.7.0 authentication required",
    ))
    .await;
    let err = smtp_mailer(&sink.url(), 5)
        .send(&plain("x@example.com"))
        .await
        .expect_err("refused");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_times_out_and_retries() {
    let sink = SmtpSink::start(Script {
        silent: true,
        ..Script::default()
    })
    .await;
    let started = std::time::Instant::now();
    let err = smtp_mailer(&sink.url(), 1)
        .send(&plain("a@example.com"))
        .await
        .expect_err("timed out");
    assert!(err.is_retryable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_refused_connection_retries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = smtp_mailer(&format!("smtp://127.0.0.1:{port}"), 2)
        .send(&plain("a@example.com"))
        .await
        .expect_err("refused");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_malformed_recipient_aborts_without_connecting() {
    let sink = SmtpSink::start(Script::default()).await;
    let err = smtp_mailer(&sink.url(), 5)
        .send(&plain("not an address"))
        .await
        .expect_err("bad input");
    assert!(matches!(err, DeliveryError::Abort { .. }), "{err:?}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn without_smtp_emails_are_written_to_the_outbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = Arc::new(Metrics::new());
    let mailer = Mailer::from_config(&MailConfig::default(), dir.path())
        .expect("mailer")
        .with_metrics(metrics.clone());
    assert!(!mailer.is_smtp());
    let sent = mailer
        .send(&welcome("ada@example.com", Some("k1")))
        .await
        .expect("written");
    assert_eq!(sent.via, Via::File);

    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .expect("outbox exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let bytes = std::fs::read(&files[0]).expect("read");
    let msg = MessageParser::default().parse(&bytes).expect("parsable");
    assert_eq!(
        msg.message_id().map(|id| format!("<{id}>")),
        Some(sent.message_id)
    );
    assert_eq!(msg.subject(), Some("Welcome to Kiln, Ada & Bob"));
    assert!(msg.body_html(0).is_some() && msg.body_text(0).is_some());
    assert!(
        metrics
            .render()
            .contains(r#"kiln_notifications_total{channel="email",outcome="recorded"} 1"#)
    );
}
