//! Email templates: minijinja sources under `jobs/templates/email/`, compiled
//! into the binary so a deployment needs no template files.
//!
//! Each email `name` has three parts: `{name}.subject.txt.j2`, `{name}.txt.j2`
//! and `{name}.html.j2`, and a fourth for push notifications,
//! `{name}.push.txt.j2` (the push title is the subject). HTML parts are autoescaped (by their `.html`
//! extension); subject and text are not. A variable the template prints but the
//! context lacks is an error, never an empty string (`{% if x %}` on a missing
//! `x` is false).

use minijinja::{
    Environment, UndefinedBehavior,
    value::{Serde, Value},
};
use serde::Serialize;

macro_rules! embedded {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $file)))),*]
    };
}

/// Every embedded template file: (name, source).
const SOURCES: &[(&str, &str)] = embedded![
    "layout.html.j2",
    "welcome.subject.txt.j2",
    "welcome.txt.j2",
    "welcome.html.j2",
    "welcome.push.txt.j2",
    "job_finished.subject.txt.j2",
    "job_finished.txt.j2",
    "job_finished.html.j2",
    "job_finished.push.txt.j2",
    "report_status.subject.txt.j2",
    "report_status.txt.j2",
    "report_status.html.j2",
    "report_status.push.txt.j2",
    "report_escalated.subject.txt.j2",
    "report_escalated.txt.j2",
    "report_escalated.html.j2",
    "report_escalated.push.txt.j2",
];

/// The emails there are templates for.
pub const EMAILS: &[&str] = &[
    "welcome",
    "job_finished",
    "report_status",
    "report_escalated",
];

/// A template could not be found or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No email of that name.
    #[error("unknown email template {0:?}")]
    Unknown(String),
    /// The template failed to compile or render (e.g. a missing variable).
    #[error("email template {name:?}: {source:#}")]
    Render {
        /// The template file.
        name: String,
        /// minijinja's error.
        #[source]
        source: minijinja::Error,
    },
}

/// One rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject, on one line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// One rendered push notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPush {
    /// The title: the email's subject.
    pub title: String,
    /// The short body.
    pub body: String,
}

/// The compiled templates. Build once and share.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the embedded templates.
    pub fn embedded() -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for &(name, source) in SOURCES {
            env.add_template(name, source)
                .map_err(|source| TemplateError::Render {
                    name: name.to_owned(),
                    source,
                })?;
        }
        Ok(Templates { env })
    }

    /// Renders email `name` with `ctx` (any serializable map).
    pub fn render(&self, name: &str, ctx: &impl Serialize) -> Result<Rendered, TemplateError> {
        let ctx = Self::context(name, ctx)?;
        Ok(Rendered {
            subject: self.one_line(name, "subject.txt", &ctx)?,
            text: self.part(name, "txt", &ctx)?,
            html: self.part(name, "html", &ctx)?,
        })
    }

    /// Renders the push notification of `name` with `ctx`.
    pub fn render_push(
        &self,
        name: &str,
        ctx: &impl Serialize,
    ) -> Result<RenderedPush, TemplateError> {
        let ctx = Self::context(name, ctx)?;
        Ok(RenderedPush {
            title: self.one_line(name, "subject.txt", &ctx)?,
            body: self.one_line(name, "push.txt", &ctx)?,
        })
    }

    fn context(name: &str, ctx: &impl Serialize) -> Result<Value, TemplateError> {
        if !EMAILS.contains(&name) {
            return Err(TemplateError::Unknown(name.to_owned()));
        }
        Ok(Value::from(Serde(ctx)))
    }

    fn part(&self, name: &str, suffix: &str, ctx: &Value) -> Result<String, TemplateError> {
        let file = format!("{name}.{suffix}.j2");
        self.env
            .get_template(&file)
            .and_then(|t| t.render(ctx))
            .map_err(|source| TemplateError::Render { name: file, source })
    }

    /// A part with its whitespace runs (newlines included) folded to one space.
    fn one_line(&self, name: &str, suffix: &str, ctx: &Value) -> Result<String, TemplateError> {
        Ok(self
            .part(name, suffix, ctx)?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> serde_json::Value {
        json!({
            "display_name": "Ada <script>alert(1)</script> & co",
            "app_url": "https://kiln.example.com",
            "job_id": "0190c0de-0000-7000-8000-000000000001",
            "kind": "image.process",
            "status": "succeeded",
            "error": null,
            "job_url": "https://kiln.example.com/v1/jobs/1",
            "report_id": "r-1",
            "note": "Thanks & <b>bye</b>",
            "report_url": "https://kiln.example.com/v1/reports/r-1",
            "target_type": "media",
            "target_id": "0190c0de-0000-7000-8000-000000000002",
            "priority": 10.5,
            "hidden": true,
        })
    }

    #[test]
    fn every_email_renders_all_three_parts() {
        let t = Templates::embedded().unwrap();
        for name in EMAILS {
            let r = t.render(name, &ctx()).unwrap();
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{name}");
            assert!(r.text.contains("Hello Ada"), "{name}: {}", r.text);
            assert!(r.html.starts_with("<!doctype html>"), "{name}");
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let r = Templates::embedded()
            .unwrap()
            .render("welcome", &ctx())
            .unwrap();
        assert_eq!(
            r.subject,
            "Welcome to Kiln, Ada <script>alert(1)</script> & co"
        );
        assert!(r.text.contains("Ada <script>alert(1)</script> & co"));
        assert!(
            r.html
                .contains("Ada &lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; co"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<script>"));
    }

    #[test]
    fn job_finished_says_why_it_failed() {
        let mut c = ctx();
        c["status"] = json!("dead");
        c["error"] = json!("image rejected: not an image");
        let r = Templates::embedded()
            .unwrap()
            .render("job_finished", &c)
            .unwrap();
        assert_eq!(r.subject, "Your image.process job failed");
        assert!(r.text.contains("Reason: image rejected: not an image"));
    }

    #[test]
    fn every_email_has_a_one_line_push() {
        let t = Templates::embedded().unwrap();
        for name in EMAILS {
            let p = t.render_push(name, &ctx()).unwrap();
            let email = t.render(name, &ctx()).unwrap();
            assert_eq!(p.title, email.subject, "{name}");
            assert!(!p.body.is_empty() && !p.body.contains('\n'), "{name}");
        }
        let p = t.render_push("report_status", &ctx()).unwrap();
        assert_eq!(p.body, "Your report r-1 is now succeeded.");
    }

    #[test]
    fn missing_variables_and_unknown_names_are_errors() {
        let t = Templates::embedded().unwrap();
        let err = t
            .render("welcome", &json!({"display_name": "x"}))
            .unwrap_err();
        assert!(err.to_string().contains("app_url"), "{err}");
        assert!(matches!(
            t.render("nope", &ctx()),
            Err(TemplateError::Unknown(n)) if n == "nope"
        ));
    }
}
