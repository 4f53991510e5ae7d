//! Single sign-on answers nobody started cannot flood the audit trail: from
//! one address they are refused, each with its record, up to the sign-in
//! limit of the window, and then answered 429 with Retry-After and no
//! record of their own. (The whole flow is in tests/e2e/oidc.test.mjs.)

use crate::harness::Serve;

#[test]
fn forged_single_sign_on_answers_are_throttled_per_address() {
    let lab = crate::harness::lab();
    let serve = Serve::on_lab(&lab, "").start();
    let mut statuses = vec![];
    let mut retry_after = None;
    for i in 0..14 {
        let answer = serve.portal(
            "GET",
            &format!("/ui/sign-in/oidc/callback?state=forged-{i}&code=forged"),
            &[],
            None,
        );
        statuses.push(answer.status);
        if answer.status == 429 {
            assert!(
                answer.body.contains("Too many refused sign-ins"),
                "{}",
                answer.body
            );
            retry_after = answer
                .headers
                .iter()
                .find(|(k, _)| k == "retry-after")
                .map(|(_, v)| v.parse::<u64>().expect("Retry-After in seconds"));
            break;
        }
    }
    // [limits] sign_in_failures_per_name defaults to 10: the address's own count.
    assert_eq!(statuses[..10], [400; 10], "{statuses:?}");
    assert_eq!(statuses.get(10), Some(&429), "{statuses:?}");
    assert!(
        retry_after.is_some_and(|s| s > 0 && s <= 900),
        "{retry_after:?}"
    );
    let refused = serve
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "sign-in" && r["result"] == "refused")
        .filter(|r| r["details"]["why"] == "unknown-state")
        .count();
    assert_eq!(
        refused, 10,
        "one record per refused answer, none once throttled"
    );
}
