//! Issue 14, detection-state poisoning: more than 1,024 alerts in one burst made automatic
//! response skip alerts for good (the alert hook's buffer overflowed and the lagged
//! receiver only logged it). Now a lagged receiver catches up from the alert store: every
//! alert of the burst is answered (here in dry-run: one `automation-dry-run` record each).

use crate::harness::{Serve, config_without_tailing, now_rfc3339};

/// More alerts than the hook holds (1,024), raised by one batch.
const ALERTS: usize = 1500;

#[test]
fn a_burst_of_alerts_beyond_the_hook_is_answered_in_full() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "burst", 0);
    let dir = tempfile::tempdir().unwrap();
    let config = config_without_tailing(
        &lab,
        dir.path(),
        "\n[automation]\nmode = \"dry-run\"\n\n[[automation.rule]]\nname = \"roast-watch\"\ntechnique = \"T1558.003\"\naction = \"force-password-reset\"\non = \"users\"\ninputs = [\"api:*\"]\n",
    );
    let server = Serve::on_config(&config).stderr_lines().start();
    let token = server.token("burst-fwd", "admin", &[]);
    // One RC4 service ticket per service: one kerberoasting alert each.
    let now = now_rfc3339();
    let body: String = (0..ALERTS)
        .map(|n| {
            serde_json::json!({"Event": {
                "System": {"EventID": 4769, "Computer": "dc1.corp.example.test",
                           "TimeCreated": {"#attributes": {"SystemTime": now}}},
                "EventData": {"TargetUserName": format!("{}@CORP.EXAMPLE.TEST", user.name),
                              "ServiceName": format!("svc-burst-{n}"), "TicketEncryptionType": "0x17",
                              "Status": "0x0", "IpAddress": "10.98.0.1"}}})
            .to_string()
                + "\n"
        })
        .collect();
    let r = server.api(&token, "POST", "/api/v1/events", Some(&body));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["alerts_raised"], ALERTS, "{}", r.body);
    let records = server.wait_for_audit("every alert's dry run", |records| {
        records
            .iter()
            .filter(|r| r["event"] == "automation-dry-run")
            .count()
            >= ALERTS
    });
    let answered: std::collections::HashSet<&str> = records
        .iter()
        .filter(|r| r["event"] == "automation-dry-run")
        .filter_map(|r| r["details"]["alert"].as_str())
        .collect();
    assert_eq!(answered.len(), ALERTS, "each alert answered once");
}
