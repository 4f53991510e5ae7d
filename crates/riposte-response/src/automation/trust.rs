//! Which evidence automation may act on: the rule's trusted inputs, the sender's
//! scope, rules refused at start (acting on whoever an attacker can make "attacked"),
//! and the per-identity cooldown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use riposte_core::Action;
use riposte_core::policy::{self, Permission, Principal, Role};

use super::{Entity, Rule};

/// What a rule trusts when it says nothing: the forests' own DC logs, tailed by riposte.
pub fn default_inputs() -> Vec<String> {
    vec!["tail:*".into()]
}

/// Whether an input pattern (`tail:*`, `tail:corp`, `api:*`, `api:token:siem`, `file:*`,
/// or a bare kind `tail` / `api` / `file`) names `input`.
pub fn input_matches(pattern: &str, input: &str) -> bool {
    let pattern = pattern.trim();
    let pattern = match pattern {
        "tail" | "api" | "file" => format!("{pattern}:*"),
        other => other.to_string(),
    };
    match pattern.strip_suffix('*') {
        Some(prefix) => input.len() > prefix.len() && input.starts_with(prefix),
        None => input == pattern,
    }
}

/// ATT&CK techniques (and sub-techniques) of alerts that anyone can cause on chosen
/// accounts without any right: failed logons and enumeration. Their `users` are the
/// attacked, not the compromised.
const ATTACKER_CAUSED_TECHNIQUES: [&str; 4] = ["T1110", "T1087", "T1069", "T1589"];
const ATTACKER_CAUSED_RULES: [&str; 9] = [
    "riposte.password_spray",
    "riposte.brute_force",
    // Names the KDC does not know, tried by anyone.
    "riposte.kerberos_user_enumeration",
    // runas /netonly (no admin right) names any account as the network credentials.
    "riposte.pass_the_hash_new_credentials",
    // Any user may create a computer (MachineAccountQuota) and rename it to a chosen name.
    "riposte.samaccountname_spoofing",
    // An unauthenticated attacker chooses the DC; its account is never contained automatically.
    "riposte.zerologon_dc_password_set",
    // Whoever manages one group chooses its members: the actor is the one to contain.
    "riposte.group_membership_burst",
    "riposte.group_member_added_and_removed",
    "riposte.group_add_by_non_admin",
];

/// At run time, whatever the rule matched on (a technique like T1098 also
/// matches a group burst): why `rule` must not act on the `users` of an
/// alert of `alert_rule_id` / `alert_technique`, whom the attacker chose.
pub fn attacked_users_refused(
    rule: &Rule,
    alert_rule_id: &str,
    alert_technique: Option<&str>,
) -> Option<String> {
    if rule.on != Entity::Users || rule.act_on_attacked {
        return None;
    }
    let probe = Rule {
        technique: alert_technique.map(String::from),
        rule_id: Some(alert_rule_id.to_string()),
        ..rule.clone()
    };
    attacker_caused(&probe).map(|what| {
        format!(
            "the users of {what} are chosen by whoever causes it, not compromised: act on its actors, or say `act_on_attacked = true` in the rule if this is really meant"
        )
    })
}

fn attacker_caused(rule: &Rule) -> Option<String> {
    if rule.on != Entity::Users {
        return None;
    }
    if let Some(t) = rule.technique.as_deref() {
        let t = t.trim().to_ascii_uppercase();
        if let Some(family) = ATTACKER_CAUSED_TECHNIQUES
            .iter()
            .find(|f| t == **f || t.starts_with(&format!("{f}.")))
        {
            return Some(format!(
                "technique {t} ({family}: failed logons or enumeration)"
            ));
        }
    }
    if let Some(r) = rule.rule_id.as_deref()
        && ATTACKER_CAUSED_RULES.contains(&r.trim())
    {
        return Some(format!("rule {r}"));
    }
    None
}

/// A rule refused at start, with why and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleRefused {
    #[error(
        "automation rule {rule:?} would {action} the attacked accounts of {what}: anyone who can reach a DC can make logons fail for accounts of their choice, so this rule lets an attacker {action} any account at will. Act on riposte.compromised_after_spray (technique T1078: the account that then logged on from the attacking source) instead, or say `act_on_attacked = true` in the rule if this is really meant"
    )]
    ActsOnAttacked {
        rule: String,
        action: Action,
        what: String,
    },
    #[error(
        "automation rule {rule:?} names neither a technique nor a rule_id, so it matches no alert; add `technique = \"...\"` or `rule_id = \"...\"`"
    )]
    MatchesNothing { rule: String },
    #[error(
        "automation rule {rule:?}: input {input:?} is not tail:<forest>, api:<principal> or file:<principal> (a trailing * matches any, e.g. tail:*)"
    )]
    BadInput { rule: String, input: String },
}

/// Checks every rule before automation starts. `Ok` holds the risks to print (rules that
/// explicitly act on attacked accounts, or trust inputs beyond the DC logs).
pub fn check_rules(rules: &[Rule]) -> Result<Vec<String>, RuleRefused> {
    let mut risks = Vec::new();
    for rule in rules {
        if rule.technique.is_none() && rule.rule_id.is_none() {
            return Err(RuleRefused::MatchesNothing {
                rule: rule.name.clone(),
            });
        }
        for input in &rule.inputs {
            let kind = input.trim().split(':').next().unwrap_or_default();
            if !matches!(kind, "tail" | "api" | "file") {
                return Err(RuleRefused::BadInput {
                    rule: rule.name.clone(),
                    input: input.clone(),
                });
            }
            if kind != "tail" {
                risks.push(format!(
                    "automation rule {:?} trusts events from {input}: whoever holds that credential can make it act (within the sender's scope)",
                    rule.name
                ));
            }
        }
        if let Some(what) = attacker_caused(rule) {
            if !rule.act_on_attacked {
                return Err(RuleRefused::ActsOnAttacked {
                    rule: rule.name.clone(),
                    action: rule.action,
                    what,
                });
            }
            risks.push(format!(
                "RISK: automation rule {:?} will {} the attacked accounts of {what} (act_on_attacked = true): anyone who can reach a DC can trigger it for accounts of their choice; the circuit breaker and the cooldown are the only bounds",
                rule.name, rule.action
            ));
        }
    }
    Ok(risks)
}

/// Whether the sender of the events may, within its own scope, have `action` done on the
/// account `dn` in `forest`: automation never acts beyond the scope of whoever fed it.
/// A DC log (`tail:<forest>`) vouches only for its own forest.
pub fn sender_allows(
    input: &str,
    fed_by: Option<&Principal>,
    action: Action,
    forest: &str,
    dn: &str,
) -> Result<(), String> {
    if let Some(log_forest) = input.strip_prefix("tail:")
        && !log_forest.eq_ignore_ascii_case(forest)
    {
        return Err(format!(
            "the evidence is {log_forest}'s DC log, which does not vouch for an account in forest {forest}"
        ));
    }
    let Some(sender) = fed_by else {
        return if input.starts_with("tail:") {
            Ok(())
        } else {
            Err(format!(
                "the evidence came from {input} and its sender is not known"
            ))
        };
    };
    // The sender's scope, whatever its role: a forwarder's scope bounds what its events
    // may cause, as a responder's bounds what it may request.
    let as_scope = Principal {
        name: sender.name.clone(),
        role: if sender.role == Role::Admin {
            Role::Admin
        } else {
            Role::Responder
        },
        scope: sender.scope.clone(),
        person: sender.person.clone(),
    };
    policy::authorize(&as_scope, &Permission::RequestAction { action, forest, dn }).map_err(
        |refusal| {
            format!(
                "the events were sent by {} whose scope lacks {}",
                sender.name, refusal.missing
            )
        },
    )
}

/// Automation does not act twice on the same identity within the cooldown (repeats of
/// the same alert replay their job instead). In memory: bounded, forgets on restart.
#[derive(Debug, Default)]
pub struct Cooldown {
    acted: Mutex<HashMap<String, (Instant, String)>>,
}

const MAX_REMEMBERED: usize = 100_000;

impl Cooldown {
    /// Why `identity` may not be acted on again now for `alert`, if it may not.
    pub fn holds(&self, identity: &str, alert: &str, period: Duration) -> Option<String> {
        let acted = self.acted.lock().unwrap_or_else(|p| p.into_inner());
        let (at, by) = acted.get(&identity.to_ascii_lowercase())?;
        (by != alert && at.elapsed() < period).then(|| {
            format!(
                "cooldown: automation acted on this identity {} min ago (alert {by}); it does not act on the same identity twice within {} min",
                at.elapsed().as_secs() / 60,
                period.as_secs() / 60
            )
        })
    }

    pub fn record(&self, identity: &str, alert: &str, period: Duration) {
        let mut acted = self.acted.lock().unwrap_or_else(|p| p.into_inner());
        if acted.len() >= MAX_REMEMBERED {
            acted.retain(|_, (at, _)| at.elapsed() < period);
        }
        acted
            .entry(identity.to_ascii_lowercase())
            .or_insert_with(|| (Instant::now(), alert.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riposte_core::policy::Scope;

    fn rule(technique: &str, on: Entity) -> Rule {
        Rule {
            name: "r".into(),
            technique: Some(technique.into()),
            rule_id: None,
            action: Action::Disable,
            on,
            forests: vec![],
            ous: vec![],
            inputs: default_inputs(),
            act_on_attacked: false,
        }
    }

    #[test]
    fn inputs_match_by_kind_and_name() {
        assert!(input_matches("tail:*", "tail:corp"));
        assert!(!input_matches("tail:*", "api:token:fwd"));
        assert!(!input_matches("tail:*", "tail:"));
        assert!(input_matches("api", "api:token:fwd"));
        assert!(input_matches("api:token:siem", "api:token:siem"));
        assert!(!input_matches("api:token:siem", "api:token:siem2"));
        assert!(!input_matches("tail:corp", "tail:corp2"));
    }

    #[test]
    fn rules_on_the_attacked_are_refused_unless_explicit() {
        for t in ["T1110.003", "t1110.001", "T1110", "T1087.002"] {
            let err = check_rules(&[rule(t, Entity::Users)]).unwrap_err();
            assert!(
                matches!(err, RuleRefused::ActsOnAttacked { .. }),
                "{t}: {err}"
            );
            assert!(err.to_string().contains("act_on_attacked"));
        }
        let mut by_id = rule("T1078", Entity::Users);
        by_id.technique = None;
        by_id.rule_id = Some("riposte.brute_force".into());
        assert!(check_rules(&[by_id]).is_err());
        for id in [
            "riposte.kerberos_user_enumeration",
            "riposte.pass_the_hash_new_credentials",
            "riposte.samaccountname_spoofing",
            "riposte.zerologon_dc_password_set",
        ] {
            let mut by_id = rule("T1078", Entity::Users);
            by_id.technique = None;
            by_id.rule_id = Some(id.into());
            assert!(
                matches!(
                    check_rules(&[by_id]),
                    Err(RuleRefused::ActsOnAttacked { .. })
                ),
                "{id}"
            );
        }
        assert_eq!(check_rules(&[rule("T1078", Entity::Users)]), Ok(vec![]));
        // A rule on T1098 passes at start, but never acts on the members a
        // group manager chose in a burst: at run time the alert decides.
        let t1098 = rule("T1098", Entity::Users);
        assert_eq!(check_rules(std::slice::from_ref(&t1098)), Ok(vec![]));
        let why = attacked_users_refused(&t1098, "riposte.group_membership_burst", Some("T1098"))
            .expect("refused");
        assert!(why.contains("act on its actors"), "{why}");
        assert!(
            attacked_users_refused(&t1098, "riposte.sensitive_group_add", Some("T1098")).is_none()
        );
        assert!(
            attacked_users_refused(
                &rule("T1098", Entity::Actors),
                "riposte.group_membership_burst",
                Some("T1098")
            )
            .is_none()
        );
        let mut explicit = t1098.clone();
        explicit.act_on_attacked = true;
        assert!(
            attacked_users_refused(&explicit, "riposte.group_membership_burst", Some("T1098"))
                .is_none()
        );
        assert_eq!(
            check_rules(&[rule("T1110.003", Entity::Actors)]),
            Ok(vec![])
        );
        let mut explicit = rule("T1110.003", Entity::Users);
        explicit.act_on_attacked = true;
        let risks = check_rules(&[explicit]).unwrap();
        assert!(risks[0].starts_with("RISK"), "{risks:?}");
        let mut api = rule("T1078", Entity::Users);
        api.inputs = vec!["api:*".into()];
        assert!(check_rules(&[api]).unwrap()[0].contains("api:*"));
        let mut bad = rule("T1078", Entity::Users);
        bad.inputs = vec!["syslog".into()];
        assert!(matches!(
            check_rules(&[bad]),
            Err(RuleRefused::BadInput { .. })
        ));
    }

    #[test]
    fn the_sender_scope_bounds_what_its_events_may_cause() {
        let dn = "CN=ernie,OU=Staff,DC=corp,DC=example,DC=test";
        let fwd = Principal {
            name: "token:fwd".into(),
            role: Role::Forwarder,
            scope: Scope {
                forests: vec!["fabrikam".into()],
                ous: vec![],
                actions: vec![Action::Unlock],
            },
            person: None,
        };
        let why =
            sender_allows("api:token:fwd", Some(&fwd), Action::Disable, "corp", dn).unwrap_err();
        assert!(why.contains("token:fwd"), "{why}");
        assert!(sender_allows("api:token:fwd", Some(&fwd), Action::Unlock, "fabrikam", dn).is_ok());
        assert!(sender_allows("api:x", None, Action::Unlock, "corp", dn).is_err());
        assert!(sender_allows("tail:corp", None, Action::Disable, "corp", dn).is_ok());
        assert!(sender_allows("tail:fabrikam", None, Action::Disable, "corp", dn).is_err());
    }

    #[test]
    fn the_cooldown_holds_other_alerts_not_repeats() {
        let c = Cooldown::default();
        let hour = Duration::from_secs(3600);
        assert_eq!(c.holds("corp:ernie", "a1", hour), None);
        c.record("corp:ernie", "a1", hour);
        assert_eq!(c.holds("CORP:Ernie", "a1", hour), None, "a repeat replays");
        assert!(
            c.holds("corp:ernie", "a2", hour)
                .unwrap()
                .contains("cooldown")
        );
        assert_eq!(c.holds("corp:ernie", "a2", Duration::ZERO), None);
    }
}
