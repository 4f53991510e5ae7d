//! Issue 19, "the gaps": a group selector takes direct members by default and,
//! with `--nested` (API kind `nested-group`), the members of its nested groups
//! too, through the DC's LDAP_MATCHING_RULE_IN_CHAIN. On the lab: an outer
//! group holding one user and an inner group (which holds another user and,
//! as a cycle, the outer group). Direct plans 1, nested plans 2 and says so;
//! the nested run disables both, read back over LDAP.

use crate::harness::{Serve, config_without_tailing, riposte_config};
use riposte_testlab::{Lab, LabForest, TestUser};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ACCOUNTDISABLE: u32 = 0x2;

/// Two groups under OU=Staff, made as Administrator; deleted when dropped.
struct Groups {
    lab: Lab,
    forest: LabForest,
    outer: String,
    inner: String,
    outer_dn: String,
    inner_dn: String,
}

impl Groups {
    fn new(lab: &Lab, direct: &TestUser, nested: &TestUser) -> Groups {
        let forest = lab.forest("corp").clone();
        let unique = std::process::id() % 100_000;
        let (outer, inner) = (format!("gnout{unique}"), format!("gnin{unique}"));
        let outer_dn = format!("CN={outer},{}", forest.staff_ou);
        let inner_dn = format!("CN={inner},{}", forest.staff_ou);
        let groups = Groups {
            lab: lab.clone(),
            forest: forest.clone(),
            outer,
            inner,
            outer_dn,
            inner_dn,
        };
        lab.modify(
            &forest,
            &format!(
                "dn: {}\nchangetype: add\nobjectClass: group\nsAMAccountName: {}\nmember: {}\n\n\
                 dn: {}\nchangetype: add\nobjectClass: group\nsAMAccountName: {}\nmember: {}\nmember: {}\n\n\
                 dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
                groups.inner_dn,
                groups.inner,
                nested.dn,
                groups.outer_dn,
                groups.outer,
                direct.dn,
                groups.inner_dn,
                groups.inner_dn,
                groups.outer_dn,
            ),
        );
        groups
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        for dn in [&self.outer_dn, &self.inner_dn] {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.lab
                    .modify(&self.forest, &format!("dn: {dn}\nchangetype: delete\n"))
            }));
        }
    }
}

fn plan(config: &std::path::Path, group: &str, nested: bool) -> Value {
    let mut args = vec![
        "--json",
        "bulk",
        "disable",
        "--group",
        group,
        "--reason",
        "test: nested groups",
        "--dry-run",
    ];
    if nested {
        args.push("--nested");
    }
    let out = riposte_config(config, &args);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    out.json()["plan"].clone()
}

fn references(plan: &Value) -> BTreeSet<String> {
    plan["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_nested_group_selector_reaches_members_of_member_groups_and_direct_does_not() {
    let lab = crate::harness::lab();
    let direct = lab.create_user("corp", "gnd", 0);
    let nested = lab.create_user("corp", "gnn", 0);
    let groups = Groups::new(&lab, &direct, &nested);
    let dir = tempfile::tempdir().unwrap();
    let config = config_without_tailing(&lab, dir.path(), "");
    let group = format!("corp:{}", groups.outer);

    let only_direct = plan(&config, &group, false);
    assert_eq!(only_direct["count"], 1, "{only_direct:#}");
    assert_eq!(
        references(&only_direct),
        BTreeSet::from([direct.reference()])
    );
    let with_nested = plan(&config, &group, true);
    assert_eq!(with_nested["count"], 2, "{with_nested:#}");
    assert_eq!(
        references(&with_nested),
        BTreeSet::from([direct.reference(), nested.reference()])
    );
    assert!(
        with_nested["selector_value"]
            .as_str()
            .unwrap()
            .contains("nested"),
        "{with_nested:#}"
    );
    let refused = riposte_config(
        &config,
        &[
            "bulk",
            "disable",
            "--ou",
            &lab.forest("corp").staff_ou,
            "--nested",
            "--reason",
            "test",
            "--dry-run",
        ],
    );
    assert_ne!(refused.code, 0, "--nested without --group was accepted");

    // The API offers the same selector.
    let server = Serve::on_config(&config).start();
    let responder = server.token("nested-resp", "responder", &[]);
    let body = json!({ "action": "disable", "reason": "test: nested api", "dry_run": true,
        "selector": { "kind": "nested-group", "value": group } });
    let (status, answer) = server.api_json(&responder, "POST", "/api/v1/bulk", Some(&body));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plan"]["count"], 2, "{answer:#}");
    drop(server);

    let run = riposte_config(
        &config,
        &[
            "--json",
            "bulk",
            "disable",
            "--group",
            &group,
            "--nested",
            "--reason",
            "test: nested groups",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let done = run.json();
    assert_eq!(done["counts"]["verified"], 2, "{done:#}");
    for user in [&direct, &nested] {
        assert_ne!(
            user.uac() & ACCOUNTDISABLE,
            0,
            "{} is not disabled",
            user.name
        );
    }
}
