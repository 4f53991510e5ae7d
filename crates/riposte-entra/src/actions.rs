//! riposte's actions on one tenant: read, decide, write, read back,
//! classify (by `riposte_core::outcome`, like AD's). An outcome is what the
//! read-back shows; a write whose answer was lost is settled by reading,
//! never assumed. Graph is reached only through the client.

use riposte_core::cloud::{CloudAccount, CloudAction, CloudReport};
use riposte_core::outcome::{self, Outcome, Verdict};
use serde_json::{Value, json};

use crate::graph::{BatchRequest, EntraError, Method, encode_path};
use crate::tenant::EntraTenant;

impl EntraTenant {
    async fn read_for(
        &self,
        id: &str,
        action: CloudAction,
    ) -> Result<Option<CloudAccount>, EntraError> {
        let Some(mut account) = self.user(id).await? else {
            return Ok(None);
        };
        if action == CloudAction::ConfirmCompromised {
            account.risk_state = match self
                .graph
                .send(
                    Method::GET,
                    &format!("/identityProtection/riskyUsers/{}", encode_path(id)),
                    None,
                )
                .await
            {
                Ok(body) => body["riskState"].as_str().map(String::from),
                Err(EntraError::Graph { status: 404, .. }) => Some("none".into()),
                Err(e) => return Err(e),
            };
        }
        Ok(Some(account))
    }

    fn write_for(action: CloudAction, id: &str, with_mfa: bool) -> (Method, String, Option<Value>) {
        let user = format!("/users/{}", encode_path(id));
        match action {
            CloudAction::Disable => (
                Method::PATCH,
                user,
                Some(json!({ "accountEnabled": false })),
            ),
            CloudAction::Enable => (Method::PATCH, user, Some(json!({ "accountEnabled": true }))),
            CloudAction::RevokeSessions => {
                (Method::POST, format!("{user}/revokeSignInSessions"), None)
            }
            CloudAction::ForcePasswordReset => {
                let profile = if with_mfa {
                    json!({ "forceChangePasswordNextSignIn": true, "forceChangePasswordNextSignInWithMfa": true })
                } else {
                    json!({ "forceChangePasswordNextSignIn": true })
                };
                (
                    Method::PATCH,
                    user,
                    Some(json!({ "passwordProfile": profile })),
                )
            }
            CloudAction::ConfirmCompromised => (
                Method::POST,
                "/identityProtection/riskyUsers/confirmCompromised".into(),
                Some(json!({ "userIds": [id] })),
            ),
        }
    }

    /// Runs one action on one user: read, decide, write, read back, classify.
    pub async fn execute(&self, id: &str, action: CloudAction, with_mfa: bool) -> CloudReport {
        // Other actions under way meanwhile make the tenant busy: their
        // requests and these go to Graph together (`graph::coalesce`).
        let _acting = self.graph.acting();
        let mut report = CloudReport {
            tenant: self.graph.name().to_string(),
            user: id.to_string(),
            action,
            outcome: Outcome::Failed,
            message: String::new(),
            before: None,
            after: None,
            writes: Vec::new(),
        };
        let finish = |mut r: CloudReport, v: Verdict| {
            r.outcome = v.outcome;
            r.message = v.message;
            r
        };
        let before = match self.read_for(id, action).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return finish(
                    report,
                    Verdict::new(
                        Outcome::Failed,
                        format!("no user {id} in tenant {}", self.graph.name()),
                    ),
                );
            }
            Err(e) => return finish(report, Verdict::new(Outcome::Failed, e.to_string())),
        };
        report.user = before.reference();
        report.before = Some(before.clone());
        if let Some(verdict) = outcome::assess_cloud_before(action, &before) {
            report.after = Some(before);
            return finish(report, verdict);
        }
        let (method, path, body) = Self::write_for(action, &before.id, with_mfa);
        report.writes.push(format!(
            "{method} {path}{}",
            body.as_ref().map(|b| format!(" {b}")).unwrap_or_default()
        ));
        if let Err(e) = self.graph.send(method, &path, body.as_ref()).await {
            if e.may_have_applied() {
                return self
                    .settle_unanswered_write(report, action, &before, e)
                    .await;
            }
            let outcome = if e.is_refusal() {
                Outcome::Denied
            } else {
                Outcome::Failed
            };
            let hint = if outcome == Outcome::Denied {
                format!(" (the app needs {})", action.permission())
            } else {
                String::new()
            };
            return finish(
                report,
                Verdict::new(outcome, format!("{e}{hint}; nothing in force was observed")),
            );
        }
        match self.read_for(&before.id, action).await {
            Ok(Some(after)) => {
                let verdict = outcome::classify_cloud_after(action, &before, &after);
                report.after = Some(after);
                finish(report, verdict)
            }
            Ok(None) => finish(
                report,
                Verdict::new(Outcome::Failed, "the user disappeared before the read-back"),
            ),
            Err(e) => finish(
                report,
                Verdict::new(
                    Outcome::Failed,
                    format!("the write was accepted but the read-back failed: {e}"),
                ),
            ),
        }
    }

    /// A write whose answer never came (or came as a 503): whether it took
    /// effect is read back, never assumed either way.
    async fn settle_unanswered_write(
        &self,
        mut report: CloudReport,
        action: CloudAction,
        before: &CloudAccount,
        error: EntraError,
    ) -> CloudReport {
        let verdict = match self.read_for(&before.id, action).await {
            Ok(Some(after)) => {
                let v = outcome::classify_cloud_after(action, before, &after);
                report.after = Some(after);
                outcome::settle_lost_answer(
                    v,
                    &format!("Graph's answer to the write was lost: {error}"),
                )
            }
            Ok(None) => Verdict::new(
                Outcome::Failed,
                format!("{error}; the user disappeared before the read-back"),
            ),
            Err(e) => Verdict::new(
                Outcome::Failed,
                format!(
                    "{error}; the write may have been applied, and the read-back failed too: {e}; check the user"
                ),
            ),
        };
        report.outcome = verdict.outcome;
        report.message = verdict.message;
        report
    }
    /// One action on many users: writes through `$batch`, then reads each back.
    pub async fn execute_many(
        &self,
        ids: &[String],
        action: CloudAction,
    ) -> Result<Vec<CloudReport>, EntraError> {
        let mut befores = Vec::new();
        let mut reports = Vec::new();
        let mut requests = Vec::new();
        for id in ids {
            let mut report = CloudReport {
                tenant: self.graph.name().to_string(),
                user: id.clone(),
                action,
                outcome: Outcome::Failed,
                message: String::new(),
                before: None,
                after: None,
                writes: Vec::new(),
            };
            match self.read_for(id, action).await {
                Err(e) => {
                    report.message = format!("{e}; the user could not be read, so nothing was sent")
                }
                Ok(None) => {
                    report.message = format!("no user {id} in tenant {}", self.graph.name())
                }
                Ok(Some(before)) => {
                    report.user = before.reference();
                    if let Some(v) = outcome::assess_cloud_before(action, &before) {
                        report.outcome = v.outcome;
                        report.message = v.message;
                        report.after = Some(before.clone());
                    } else {
                        let (method, path, body) = Self::write_for(action, &before.id, false);
                        report.writes.push(format!("$batch {method} {path}"));
                        let headers = body
                            .as_ref()
                            .map(|_| json!({ "Content-Type": "application/json" }));
                        requests.push(BatchRequest {
                            id: requests.len().to_string(),
                            method: method.to_string(),
                            url: path,
                            body,
                            headers,
                        });
                        befores.push((reports.len(), before.clone()));
                    }
                    report.before = Some(before);
                }
            }
            reports.push(report);
        }
        let answers = self.graph.batch(requests).await?;
        for (n, (index, before)) in befores.into_iter().enumerate() {
            let report = &mut reports[index];
            let Some(answer) = answers.iter().find(|a| a.id == n.to_string()) else {
                // `batch` answers every sub-request; this is a bug if it happens.
                let e = self
                    .graph
                    .malformed(format!("no answer for the write on {}", before.id));
                let settled = self
                    .settle_unanswered_write(report.clone(), action, &before, e)
                    .await;
                *report = settled;
                continue;
            };
            if !(200..300).contains(&answer.status) {
                let message = answer.body["error"]["message"]
                    .as_str()
                    .unwrap_or("no message")
                    .to_string();
                let e = match answer.status {
                    0 => self.graph.malformed(message.clone()),
                    status => EntraError::Graph {
                        tenant: self.graph.name().to_string(),
                        status,
                        code: answer.body["error"]["code"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                        message: message.clone(),
                    },
                };
                if answer.status == 0 || answer.status == 503 {
                    let settled = self
                        .settle_unanswered_write(report.clone(), action, &before, e)
                        .await;
                    *report = settled;
                    continue;
                }
                let refused = answer.status == 403 || message.contains("on-premises mastered");
                report.outcome = if refused {
                    Outcome::Denied
                } else {
                    Outcome::Failed
                };
                report.message = format!(
                    "Graph answered {} after {} attempts: {message}",
                    answer.status, answer.attempts
                );
                continue;
            }
            match self.read_for(&before.id, action).await {
                Ok(Some(after)) => {
                    let v = outcome::classify_cloud_after(action, &before, &after);
                    report.outcome = v.outcome;
                    report.message = v.message;
                    report.after = Some(after);
                }
                Ok(None) => report.message = "the user disappeared before the read-back".into(),
                Err(e) => {
                    report.message = format!("the write was accepted but the read-back failed: {e}")
                }
            }
        }
        Ok(reports)
    }
}
