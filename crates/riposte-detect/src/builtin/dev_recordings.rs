//! Test support: the pack over one real recording of ../shared/datasets/evtx-dev (CI lays
//! ../shared beside the repository), so each family's tests can hold its recordings.

use std::path::PathBuf;

use riposte_events::Ingest;

use crate::{Alert, DetectConfig, Detector};

/// Where the development recordings are: `../shared/datasets/evtx-dev` beside the repository.
pub(crate) fn dev_recording(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/evtx-dev")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: the dev recordings live in ../shared/datasets/evtx-dev beside the repository",
        path.display()
    );
    path
}

/// Every alert the built-in pack (default settings, as `riposte detect` runs it) raises over
/// the recording `name`, with every record readable.
pub(crate) fn alerts_of(name: &str) -> Vec<Alert> {
    alerts_with(name, DetectConfig::default())
}

/// As [`alerts_of`], with `config`.
pub(crate) fn alerts_with(name: &str, config: DetectConfig) -> Vec<Alert> {
    let mut detector = Detector::new(config, None);
    let mut alerts = Vec::new();
    for event in Ingest::new([dev_recording(name)]) {
        let event = event.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        alerts.extend(detector.process(&event));
    }
    alerts
}

/// The distinct (rule id, technique) pairs of `alerts`, sorted.
pub(crate) fn rules_and_techniques(alerts: &[Alert]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = alerts
        .iter()
        .map(|a| (a.rule_id.clone(), a.technique.clone().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

#[test]
fn the_dev_recordings_of_the_first_pack_keep_their_techniques() {
    let cases = [
        (
            "bruteforce-4625.evtx",
            vec![("riposte.brute_force", "T1110.001")],
        ),
        ("dcsync-4662.evtx", vec![("riposte.dcsync", "T1003.006")]),
        (
            "kerberoast-rc4-4769.evtx",
            vec![("riposte.kerberoasting", "T1558.003")],
        ),
        (
            "password-never-expires-set-4738.evtx",
            vec![("riposte.account_weakened", "T1098")],
        ),
    ];
    for (file, expected) in cases {
        let got = rules_and_techniques(&alerts_of(file));
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, expected, "{file}");
    }
}

#[test]
fn the_account_and_group_recordings_give_their_techniques() {
    use super::accounts::{COMPUTER_LIKE_USER, CREATED_DELETED, RENAMED_ADMIN_LIKE};
    use super::groups::MEMBERSHIP_BURST;
    let cases: [(&str, &[(&str, &str)]); 5] = [
        (
            "fake-computer-account-4720.evtx",
            &[(COMPUTER_LIKE_USER.0, "T1136")],
        ),
        (
            "user-created-deleted-4720-4726.evtx",
            &[
                ("riposte.account_created_and_deleted", "T1136"),
                ("riposte.admin_like_account_created", "T1136"),
            ],
        ),
        (
            "computer-created-deleted-4742-4743.evtx",
            &[(CREATED_DELETED.0, "T1136")],
        ),
        (
            "user-renamed-admin-like-4781.evtx",
            &[(RENAMED_ADMIN_LIKE.0, "T1098")],
        ),
        (
            "exchange-admin-group-add-4756.evtx",
            &[
                (MEMBERSHIP_BURST.0, "T1098"),
                ("riposte.sensitive_group_add", "T1098"),
            ],
        ),
    ];
    for (file, expected) in cases {
        let got = rules_and_techniques(&alerts_of(file));
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, expected, "{file}");
    }
}
