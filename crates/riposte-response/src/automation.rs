//! Automatic response. Automation rules map detection alerts to actions on
//! the identities an alert names. Every automatic action goes through the
//! same path as a person's: `Runner::check_request` (the policy),
//! `Runner::enqueue` (the safeguards: protected identities wait for a
//! second person; the circuit breaker turns a burst of automatic actions
//! into approvals), the job ledger and the audit trail. The source is
//! `automation`, so the Action Center shows them as such, and they can be
//! undone like any job.
//!
//! Evidence is judged before anything is done (`trust`): a rule acts only on alerts from
//! the inputs it trusts (by default the forests' own DC logs, never the API), only within
//! the scope of whoever sent the events, never twice on one identity within the cooldown;
//! rules that would act on the accounts an attacker can make "attacked" (spray, brute
//! force, enumeration) are refused at start unless they say `act_on_attacked = true`.
//! Every refusal is an `automation-refused` record in the audit trail.

pub mod trust;

use std::time::Duration;

use riposte_core::entity::{forest_namings, reference_for_entity};
use riposte_core::policy::{Principal, Role, Scope};
use riposte_core::{Action, ActionOptions};
use riposte_detect::Alert;
use riposte_jobs::{ActionRequest, Runner, RunnerError, Target};
use riposte_store::NewAuditRecord;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};
use trust::Cooldown;
use uuid_like::alert_key;

/// What automation does when a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Nothing: alerts are only stored.
    #[default]
    Off,
    /// Record what would have been done (audit trail), act on nothing.
    DryRun,
    /// Act.
    Enforce,
}

/// Which of an alert's entities a rule acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    /// The accounts attacked or changed (e.g. the sprayed accounts).
    Users,
    /// The accounts that acted (e.g. who ran DCSync, who set the flag).
    Actors,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A name for the ledger: jobs are requested by `automation:<name>`.
    pub name: String,
    /// Match alerts of this ATT&CK technique (e.g. T1110.003) ...
    #[serde(default)]
    pub technique: Option<String>,
    /// ... or of this rule id.
    #[serde(default)]
    pub rule_id: Option<String>,
    pub action: Action,
    pub on: Entity,
    /// Limit the rule to identities in these forests (empty: any).
    #[serde(default)]
    pub forests: Vec<String>,
    /// Limit the rule to identities under these OUs (DNs; empty: any).
    #[serde(default)]
    pub ous: Vec<String>,
    /// The inputs whose alerts the rule acts on: `tail:*` (default: the forests' own DC
    /// logs), `tail:corp`, `api:*`, `api:token:siem`, `file:*`.
    #[serde(default = "trust::default_inputs")]
    pub inputs: Vec<String>,
    /// Act on the attacked accounts of alerts anyone can cause (spray, brute force,
    /// enumeration). Refused at start unless set; then the start prints the risk.
    #[serde(default)]
    pub act_on_attacked: bool,
}

/// `[automation]` in riposte.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationConfig {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    /// Automatic actions allowed per window before each further one needs approval.
    #[serde(default)]
    pub circuit_breaker: riposte_core::safeguards::CircuitBreaker,
    /// Automation does not act twice on the same identity within this many minutes.
    #[serde(default = "default_cooldown_minutes")]
    pub cooldown_minutes: u64,
}

fn default_cooldown_minutes() -> u64 {
    60
}

impl Default for AutomationConfig {
    fn default() -> Self {
        AutomationConfig {
            mode: Mode::default(),
            rules: Vec::new(),
            circuit_breaker: Default::default(),
            cooldown_minutes: default_cooldown_minutes(),
        }
    }
}

impl AutomationConfig {
    /// Checks the rules before automation starts (see [`trust::check_rules`]): `Ok` holds
    /// the risks to print at start.
    pub fn check(&self) -> Result<Vec<String>, trust::RuleRefused> {
        trust::check_rules(&self.rules)
    }

    fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_minutes.saturating_mul(60))
    }
}

/// What automation did about one entity of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Queued {
        rule: String,
        reference: String,
        action: Action,
        job: String,
        awaiting_approval: bool,
    },
    DryRun {
        rule: String,
        reference: String,
        action: Action,
    },
    /// The entity could not be acted on (unknown, ambiguous, not applicable, refused).
    Skipped {
        rule: String,
        reference: String,
        action: Action,
        why: String,
    },
    /// The evidence does not allow acting (untrusted input, beyond the sender's scope,
    /// cooldown): recorded in the audit trail as `automation-refused`.
    Refused {
        rule: String,
        /// `None` when the whole alert was refused (an input the rule does not trust).
        reference: Option<String>,
        action: Action,
        why: String,
    },
}

/// What automation needs to know of an alert, whether fresh from the
/// detector or stored (the live pipeline publishes stored alerts).
#[derive(Debug, Clone)]
pub struct AlertFacts {
    /// Stable across repeats of the same alert: one alert never acts twice.
    pub key: String,
    pub rule_id: String,
    pub title: String,
    pub technique: Option<String>,
    pub description: String,
    pub users: Vec<String>,
    pub actors: Vec<String>,
    /// Where its events came from (`tail:corp`, `api:token:fwd`, `file:...`); empty when
    /// unknown, which no rule trusts.
    pub input: String,
    /// Who sent the events (API, file), with the scope they had.
    pub fed_by: Option<Principal>,
}

impl From<&Alert> for AlertFacts {
    fn from(alert: &Alert) -> Self {
        AlertFacts {
            key: alert_key(alert),
            rule_id: alert.rule_id.clone(),
            title: alert.title.clone(),
            technique: alert.technique.clone(),
            description: alert.description.clone(),
            users: alert.entities.users.clone(),
            actors: alert.entities.actors.clone(),
            input: String::new(),
            fed_by: None,
        }
    }
}

impl From<&riposte_store::StoredAlert> for AlertFacts {
    fn from(stored: &riposte_store::StoredAlert) -> Self {
        let a = &stored.alert;
        AlertFacts {
            key: format!("alert-{}", stored.id),
            rule_id: a.rule_id.clone(),
            title: a.title.clone(),
            technique: a.technique.clone(),
            description: a.description.clone(),
            users: a.entities.users.clone(),
            actors: a.entities.actors.clone(),
            input: a.input.clone(),
            fed_by: a.fed_by.clone(),
        }
    }
}

pub struct Automation<'a> {
    pub config: &'a AutomationConfig,
    pub runner: &'a Runner,
    /// Who was acted on lately: kept for the service's life, shared by every alert.
    pub cooldown: &'a Cooldown,
}

impl Automation<'_> {
    /// Responds to one alert.
    pub async fn respond(&self, alert: &AlertFacts) -> Vec<Response> {
        if self.config.mode == Mode::Off {
            return Vec::new();
        }
        let mut out = Vec::new();
        // The one rule for naming an account from an event (shared with bulk).
        let forests = forest_namings(self.runner.directory().as_ref());
        for rule in &self.config.rules {
            let matches = rule
                .technique
                .as_deref()
                .is_some_and(|t| alert.technique.as_deref() == Some(t))
                || rule.rule_id.as_deref().is_some_and(|r| r == alert.rule_id);
            if !matches {
                continue;
            }
            if !rule
                .inputs
                .iter()
                .any(|p| trust::input_matches(p, &alert.input))
            {
                let why = format!(
                    "the rule trusts alerts from {} only; this one came from {}",
                    rule.inputs.join(", "),
                    if alert.input.is_empty() {
                        "an unknown input"
                    } else {
                        &alert.input
                    }
                );
                out.push(self.refuse(rule, alert, None, why).await);
                continue;
            }
            if let Some(why) =
                trust::attacked_users_refused(rule, &alert.rule_id, alert.technique.as_deref())
            {
                out.push(self.refuse(rule, alert, None, why).await);
                continue;
            }
            let entities = match rule.on {
                Entity::Users => &alert.users,
                Entity::Actors => &alert.actors,
            };
            for entity in entities {
                match reference_for_entity(entity, &forests) {
                    Ok(reference) => out.push(self.act(rule, alert, &reference).await),
                    Err(why) => out.push(Response::Skipped {
                        rule: rule.name.clone(),
                        reference: entity.escape_debug().take(200).collect(),
                        action: rule.action,
                        why: format!("the alert's account is not acted on: {why}"),
                    }),
                }
            }
        }
        out
    }

    async fn act(&self, rule: &Rule, alert: &AlertFacts, reference: &str) -> Response {
        let skipped = |why: String| Response::Skipped {
            rule: rule.name.clone(),
            reference: reference.to_string(),
            action: rule.action,
            why,
        };
        let principal = Principal {
            name: format!("automation:{}", rule.name),
            role: Role::Responder,
            scope: Scope {
                forests: rule.forests.clone(),
                ous: rule.ous.clone(),
                actions: vec![rule.action],
            },
            // An automation is no person: it never approves.
            person: None,
        };
        let request = ActionRequest {
            reference: reference.to_string(),
            action: rule.action,
            options: ActionOptions::default(),
            reason: format!(
                "automatic response to alert {} ({}): {}",
                alert.technique.as_deref().unwrap_or(&alert.rule_id),
                alert.title,
                alert.description
            ),
            requested_by: principal.name.clone(),
            // The person whose credential fed the evidence stands behind this request:
            // the one second-person rule then keeps them from approving it with any
            // credential of theirs (the evidence input check covers service tokens).
            requester_person: alert.fed_by.as_ref().and_then(|p| p.person.clone()),
            source: "automation".into(),
            // The same alert never acts twice on the same identity.
            idempotency_key: Some(format!(
                "automation:{}:{}:{}:{reference}",
                rule.name, alert.key, rule.action
            )),
            remote_addr: None,
            evidence_input: Some(alert.input.clone()),
        };
        let target = match self.runner.resolve_target(reference).await {
            Ok(t) => t,
            Err(e) => return skipped(e.to_string()),
        };
        if let Err(e) = self
            .runner
            .check_request(&principal, &request, &target)
            .await
        {
            return skipped(e.to_string());
        }
        let Target::Identity(identity) = &target else {
            return skipped("the directory could not be searched".into());
        };
        let (forest, dn) = identity.location();
        if let Err(why) = trust::sender_allows(
            &alert.input,
            alert.fed_by.as_ref(),
            rule.action,
            &forest,
            &dn,
        ) {
            return self.refuse(rule, alert, Some(reference), why).await;
        }
        let identity_key = format!("{forest}:{dn}");
        if let Some(why) = self
            .cooldown
            .holds(&identity_key, &alert.key, self.config.cooldown())
        {
            return self.refuse(rule, alert, Some(reference), why).await;
        }
        if self.config.mode == Mode::DryRun {
            let record = NewAuditRecord {
                actor: principal.name.clone(),
                source: "automation".into(),
                remote_addr: None,
                event: "automation-dry-run".into(),
                target: Some(reference.to_string()),
                job_id: None,
                result: "success".into(),
                details: json!({ "action": rule.action, "alert": alert.key, "rule_id": alert.rule_id, "technique": alert.technique, "would": request.reason }),
            };
            if let Err(e) = self.runner.store().append(record).await {
                warn!(error = %e, "a dry-run decision could not be written to the audit trail");
            }
            info!(rule = %rule.name, %reference, action = %rule.action, "automation dry run: would act");
            return Response::DryRun {
                rule: rule.name.clone(),
                reference: reference.to_string(),
                action: rule.action,
            };
        }
        match self.runner.enqueue(&request, &target).await {
            Ok(enqueued) => {
                self.cooldown
                    .record(&identity_key, &alert.key, self.config.cooldown());
                info!(rule = %rule.name, %reference, action = %rule.action, job = %enqueued.job.id, "automatic action queued");
                Response::Queued {
                    rule: rule.name.clone(),
                    reference: reference.to_string(),
                    action: rule.action,
                    job: enqueued.job.id.to_string(),
                    awaiting_approval: enqueued.job.awaiting_approval(),
                }
            }
            Err(RunnerError::NotApplicable(e)) => skipped(e.to_string()),
            Err(e) => skipped(e.to_string()),
        }
    }

    /// Records why the evidence does not allow acting, and acts on nothing.
    async fn refuse(
        &self,
        rule: &Rule,
        alert: &AlertFacts,
        reference: Option<&str>,
        why: String,
    ) -> Response {
        let record = NewAuditRecord {
            actor: format!("automation:{}", rule.name),
            source: "automation".into(),
            remote_addr: None,
            event: "automation-refused".into(),
            target: reference.map(str::to_string),
            job_id: None,
            result: "denied".into(),
            details: json!({
                "action": rule.action,
                "alert": alert.key,
                "rule_id": alert.rule_id,
                "technique": alert.technique,
                "input": alert.input,
                "fed_by": alert.fed_by.as_ref().map(|p| &p.name),
                "why": why,
            }),
        };
        if let Err(e) = self.runner.store().append(record).await {
            warn!(error = %e, "an automation refusal could not be written to the audit trail");
        }
        warn!(rule = %rule.name, alert = %alert.key, input = %alert.input, reference = ?reference, %why, "automation refused to act");
        Response::Refused {
            rule: rule.name.clone(),
            reference: reference.map(str::to_string),
            action: rule.action,
            why,
        }
    }
}

mod uuid_like {
    use riposte_detect::Alert;

    /// A stable key for an alert: its rule and first event time.
    pub fn alert_key(alert: &Alert) -> String {
        let first = alert
            .first_seen
            .map(|t| t.unix_timestamp_nanos().to_string())
            .unwrap_or_else(|| {
                alert
                    .events
                    .first()
                    .map(|e| format!("{e:?}"))
                    .unwrap_or_default()
            });
        format!("{}@{first}", alert.rule_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_clear_errors() {
        let ok: AutomationConfig = toml_like(
            r#"{"mode":"enforce","rule":[{"name":"spray","technique":"T1110.003","action":"force-password-reset","on":"users"}]}"#,
        );
        assert_eq!(ok.mode, Mode::Enforce);
        assert_eq!(ok.rules[0].action, Action::ForcePasswordReset);
        assert!(serde_json::from_str::<AutomationConfig>(r#"{"mode":"sometimes"}"#).is_err());
    }

    fn toml_like(json: &str) -> AutomationConfig {
        serde_json::from_str(json).unwrap()
    }
}
