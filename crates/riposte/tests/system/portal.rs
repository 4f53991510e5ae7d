//! The web portal over plain HTTP (no browser) against the real lab:
//! sign-in, CSRF, what a reader is offered, sign-out. The browser flows
//! are in tests/e2e (Playwright on Chromium).

use crate::harness::{Portal, Serve};
use riposte_testlab::Lab;

/// The harness's `riposte serve` on the lab, with the portal calls of these tests.
struct Server(Serve);

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.0
    }
}

impl Server {
    fn start(lab: &Lab) -> Server {
        Self::start_with(lab, "")
    }

    /// `extra` is appended to the config (e.g. a [safeguards] table).
    fn start_with(lab: &Lab, extra: &str) -> Server {
        Server(Serve::on_lab(lab, extra).start())
    }

    /// `riposte person add` with the password on stdin.
    fn person(&self, name: &str, role: &str, password: &str) {
        self.0.person_with_password(name, role, password);
    }

    /// The sign-in form's CSRF cookie and token.
    fn sign_in_token(&self) -> (String, String) {
        let form = self.portal("GET", "/ui/sign-in", &[], None);
        assert_eq!(form.status, 200);
        let cookie = form
            .cookie("riposte_sign_in")
            .expect("a sign-in CSRF cookie");
        assert!(form.body.contains(&cookie), "the form repeats the token");
        (format!("riposte_sign_in={cookie}"), cookie)
    }

    fn sign_in(&self, name: &str, password: &str) -> Reply {
        let (cookie, token) = self.sign_in_token();
        self.portal(
            "POST",
            "/ui/sign-in",
            &[&cookie],
            Some(&format!(
                "name={name}&password={password}&csrf={token}&next=%2Fui%2Fsearch"
            )),
        )
    }

    /// Signs in; returns the session cookie and the session's CSRF token.
    fn session(&self, name: &str, password: &str) -> (String, String) {
        let reply = self.sign_in(name, password);
        assert_eq!(reply.status, 303, "{}", reply.body);
        let secret = reply.cookie("riposte_session").expect("a session cookie");
        let cookie = format!("riposte_session={secret}");
        let search = self.portal("GET", "/ui/search", &[&cookie], None);
        assert_eq!(search.status, 200);
        let csrf = search
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the sign-out form's CSRF token")
            .to_string();
        (cookie, csrf)
    }
}

/// A portal response (the harness's).
type Reply = Portal;

const PASSWORD: &str = "portal-test-password-1";

#[test]
fn sign_in_needs_the_right_password_and_sets_a_strict_session_cookie() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab);
    server.person("alice", "responder", PASSWORD);

    let wrong = server.sign_in("alice", "not-the-password-1");
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.set_cookie("riposte_session").is_none());
    assert!(wrong.body.contains("Wrong name or password"));
    let nobody = server.sign_in("nobody", PASSWORD);
    assert_eq!(nobody.status, 401);
    assert!(nobody.set_cookie("riposte_session").is_none());

    let right = server.sign_in("alice", PASSWORD);
    assert_eq!(right.status, 303, "{}", right.body);
    assert_eq!(right.location(), "/ui/search");
    let cookie = right.set_cookie("riposte_session").unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // The session works for the API as well, as user:<name>.
    let secret = right.cookie("riposte_session").unwrap();
    let whoami = server.portal(
        "GET",
        "/api/v1/whoami",
        &[&format!("riposte_session={secret}")],
        None,
    );
    assert_eq!(whoami.status, 200);
    assert!(whoami.body.contains("\"user:alice\""), "{}", whoami.body);
    // Without --password-stdin a password is generated and shown once; it works,
    // and nothing riposte stores holds it in clear.
    let added = crate::harness::riposte_config(
        &server.config,
        &[
            "--json", "person", "add", "--name", "gene", "--role", "reader",
        ],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    let generated = added.json()["password"].as_str().unwrap().to_string();
    assert!(generated.len() >= 20);
    let encoded: String = generated.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(server.sign_in("gene", &encoded).status, 303);
    let data = server.config.parent().unwrap().join("data");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        // Directories (e.g. the tailer's offsets under ingest/) hold no ledger data.
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        for secret in [generated.as_str(), PASSWORD] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a password is stored in clear under {}",
                data.display()
            );
        }
    }
    // Nothing without a session: pages send the browser to sign in.
    let anonymous = server.portal("GET", "/ui/search?q=ernie", &[], None);
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location().starts_with("/ui/sign-in"));
    // Every sign-in, refused or not, is in the audit trail, with where it came from; no password is.
    let audit =
        crate::harness::riposte_config(&server.config, &["audit", "export", "--format", "raw"])
            .stdout;
    let events: Vec<(String, String, String)> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| {
            r["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("sign-in"))
        })
        .map(|r| {
            (
                r["event"].as_str().unwrap().into(),
                r["actor"].as_str().unwrap().into(),
                r["remote_addr"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        events.contains(&(
            "sign-in-failed".into(),
            "user:alice".into(),
            "127.0.0.1".into()
        )),
        "{events:?}"
    );
    assert!(
        events.contains(&(
            "sign-in-failed".into(),
            "user:nobody".into(),
            "127.0.0.1".into()
        )),
        "{events:?}"
    );
    assert!(
        events.contains(&("sign-in".into(), "user:alice".into(), "127.0.0.1".into())),
        "{events:?}"
    );
    for secret in [PASSWORD, "not-the-password-1", generated.as_str()] {
        assert!(
            !audit.contains(secret),
            "a password reached the audit trail"
        );
    }
    let ocsf = crate::harness::riposte_config(&server.config, &["audit", "export"]).stdout;
    assert!(
        ocsf.contains("\"class_uid\":3002"),
        "sign-ins export as OCSF Authentication: {ocsf}"
    );
}

#[test]
fn posts_without_the_csrf_token_are_refused() {
    let lab = crate::harness::lab();
    // A user of its own: if CSRF protection broke, the forged disable below
    // would land on this account, not on one the lab seeds.
    let user = lab.create_user("corp", "csrf", 0);
    let confirm_path = format!(
        "/ui/identities/{}/confirm",
        user.reference().replace(':', "%3A")
    );
    let server = Server::start(&lab);
    server.person("alice", "responder", PASSWORD);

    // Sign-in without the pre-session token (cookie and field) is refused.
    let no_token = server.portal(
        "POST",
        "/ui/sign-in",
        &[],
        Some(&format!("name=alice&password={PASSWORD}")),
    );
    assert_eq!(no_token.status, 403);
    assert!(no_token.set_cookie("riposte_session").is_none());
    let (signin_cookie, _) = server.sign_in_token();
    let forged = server.portal(
        "POST",
        "/ui/sign-in",
        &[&signin_cookie],
        Some(&format!(
            "name=alice&password={PASSWORD}&csrf=rpt_forged_token_value_of_some_length_00000000"
        )),
    );
    assert_eq!(forged.status, 403);

    let (session, csrf) = server.session("alice", PASSWORD);
    let disable = "action=disable&reason=csrf+test";
    let refused = server.portal("POST", &confirm_path, &[&session], Some(disable));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("CSRF"), "{}", refused.body);
    let wrong = server.portal(
        "POST",
        &confirm_path,
        &[&session],
        Some(&format!("{disable}&csrf=rpt_{}", "0".repeat(64))),
    );
    assert_eq!(wrong.status, 403);
    // Neither created a job.
    let jobs = server.portal("GET", "/api/v1/jobs", &[&session], None);
    assert_eq!(jobs.status, 200);
    assert!(jobs.body.contains("\"jobs\":[]"), "{}", jobs.body);
    // The API refuses a cookie-authenticated change without the header, too.
    let api = server.portal(
        "POST",
        "/api/v1/jobs/01a21926-855c-753d-a360-75d831e6da64/approve",
        &[&session],
        Some("{}"),
    );
    assert_eq!(api.status, 403, "{}", api.body);
    assert!(api.body.contains("csrf_token_required"));
    // Sign-out without the token leaves the session alive.
    let out = server.portal("POST", "/ui/sign-out", &[&session], Some("csrf="));
    assert_eq!(out.status, 403);
    assert_eq!(
        server.portal("GET", "/ui/search", &[&session], None).status,
        200
    );
    // With the token, the confirm form reaches the policy and the runner:
    // an empty reason is asked for again, nothing recorded.
    let no_reason = server.portal(
        "POST",
        &confirm_path,
        &[&session],
        Some(&format!("action=disable&reason=&csrf={csrf}")),
    );
    assert_eq!(no_reason.status, 400);
    assert!(no_reason.body.contains("reason is required"));
}

#[test]
fn a_reader_sees_the_identity_but_no_action() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab);
    server.person("rita", "reader", PASSWORD);
    server.person("alice", "responder", PASSWORD);

    let (reader, _) = server.session("rita", PASSWORD);
    let page = server.portal("GET", "/ui/identities/corp%3Aernie", &[&reader], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("CN=ernie,OU=Staff"), "{}", page.body);
    assert!(!page.body.contains("/confirm?action="), "{}", page.body);
    assert!(page.body.contains("may look at this identity but not act"));
    // Going to the confirmation page directly is refused, naming the missing right.
    let confirm = server.portal(
        "GET",
        "/ui/identities/corp%3Aernie/confirm?action=disable",
        &[&reader],
        None,
    );
    assert_eq!(confirm.status, 403);
    assert!(confirm.body.contains("Missing right"), "{}", confirm.body);
    assert!(confirm.body.contains("responder role"));

    // The same page offers a responder the actions the policy permits.
    let (responder, _) = server.session("alice", PASSWORD);
    let page = server.portal("GET", "/ui/identities/corp%3Aernie", &[&responder], None);
    assert!(
        page.body
            .contains("/ui/identities/corp%3Aernie/confirm?action=disable")
    );

    // An unknown identity is a clear 404 page.
    let missing = server.portal("GET", "/ui/identities/corp%3Anobody-here", &[&reader], None);
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("No such identity"),
        "{}",
        missing.body
    );
}

#[test]
fn sign_out_revokes_the_session() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab);
    server.person("alice", "responder", PASSWORD);
    let (session, csrf) = server.session("alice", PASSWORD);
    assert_eq!(
        server
            .portal("GET", "/api/v1/whoami", &[&session], None)
            .status,
        200
    );

    let out = server.portal(
        "POST",
        "/ui/sign-out",
        &[&session],
        Some(&format!("csrf={csrf}")),
    );
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/ui/sign-in");
    assert!(
        out.set_cookie("riposte_session")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    // The old cookie, replayed, no longer works anywhere: the store revoked it.
    let page = server.portal("GET", "/ui/search", &[&session], None);
    assert_eq!(page.status, 303);
    assert!(page.location().starts_with("/ui/sign-in"));
    assert_eq!(
        server
            .portal("GET", "/api/v1/whoami", &[&session], None)
            .status,
        401
    );
}

/// The job id from a redirect to its page.
fn job_id(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    reply
        .location()
        .strip_prefix("/ui/jobs/")
        .expect("a redirect to the job page")
        .to_string()
}

#[test]
fn a_protected_identity_waits_for_someone_else_to_approve_in_the_portal() {
    let lab = crate::harness::lab();
    let user = lab.create_user("corp", "ptl", 0);
    let server = Server::start_with(
        &lab,
        &format!("\n[safeguards]\nprotected = [{:?}]\n", user.reference()),
    );
    server.person("alice", "responder", PASSWORD);
    server.person("bob", "responder", PASSWORD);
    let (alice, alice_csrf) = server.session("alice", PASSWORD);
    let (bob, bob_csrf) = server.session("bob", PASSWORD);
    let target = user.reference().replace(':', "%3A");

    // The confirmation page says a second person will be needed, before anything happens.
    let confirm = server.portal(
        "GET",
        &format!("/ui/identities/{target}/confirm?action=disable"),
        &[&alice],
        None,
    );
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("A second person must approve"),
        "{}",
        confirm.body
    );
    let requested = server.portal(
        "POST",
        &format!("/ui/identities/{target}/confirm"),
        &[&alice],
        Some(&format!(
            "action=disable&reason=portal+approval+test&csrf={alice_csrf}"
        )),
    );
    let id = job_id(&requested);

    // The requester sees the job waiting, with no approve form for herself.
    let mine = server.portal("GET", &format!("/ui/jobs/{id}"), &[&alice], None);
    assert!(
        mine.body.contains("Waiting for a second person"),
        "{}",
        mine.body
    );
    assert!(!mine.body.contains(&format!("/ui/jobs/{id}/approve")));
    let center = server.portal("GET", "/ui/actions", &[&alice], None);
    assert!(center.body.contains("pending approval"));
    assert!(!center.body.contains(&format!("/ui/jobs/{id}/approve")));
    // Her own approval is refused by the policy even if posted by hand.
    let own = server.portal(
        "POST",
        &format!("/ui/jobs/{id}/approve"),
        &[&alice],
        Some(&format!("csrf={alice_csrf}")),
    );
    assert_eq!(own.status, 403);
    assert!(own.body.contains("second person"), "{}", own.body);
    assert_eq!(user.uac() & 0x2, 0, "nothing written before approval");

    // Someone else sees the form in the Action Center and approves.
    let center = server.portal("GET", "/ui/actions", &[&bob], None);
    assert!(center.body.contains(&format!("/ui/jobs/{id}/approve")));
    let approved = server.portal(
        "POST",
        &format!("/ui/jobs/{id}/approve"),
        &[&bob],
        Some(&format!("csrf={bob_csrf}&comment=ok")),
    );
    assert_eq!(approved.status, 303, "{}", approved.body);
    // The event stream ends with the job's outcome.
    let events = server.portal("GET", &format!("/api/v1/jobs/{id}/events"), &[&bob], None);
    assert!(events.body.contains("event: finished"), "{}", events.body);
    let job = server.portal("GET", &format!("/api/v1/jobs/{id}"), &[&bob], None);
    assert!(
        job.body.contains("\"outcome\":\"verified\""),
        "{}",
        job.body
    );
    assert!(
        job.body.contains("\"decided_by\":\"user:bob\""),
        "{}",
        job.body
    );
    assert_eq!(user.uac() & 0x2, 0x2, "disabled after approval");
}

#[test]
fn riposte_ingest_stores_alerts_that_the_alerts_page_lists() {
    let lab = crate::harness::lab();
    let server = Server::start(&lab);
    server.person("alice", "reader", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dc1-samba.log");
    std::fs::write(&log, crate::harness::spray("10.88.0.1")).unwrap();
    let out = crate::harness::riposte_config(&server.config, &["ingest", log.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("T1110.003"), "{}", out.stdout);
    assert!(out.stderr.contains("7 event(s)"), "{}", out.stderr);
    assert!(out.stderr.contains("1 alert(s) stored"), "{}", out.stderr);
    let (session, _) = server.session("alice", PASSWORD);
    let page = server.portal("GET", "/ui/alerts", &[&session], None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("href=\"/ui/alerts\""),
        "the nav links the page"
    );
    assert!(page.body.contains("T1110.003"), "{}", page.body);
    assert!(page.body.contains("10.88.0.1"), "{}", page.body);
    let filtered = server.portal("GET", "/ui/alerts?technique=T1558.003", &[&session], None);
    assert!(
        filtered.body.contains("No alert matches."),
        "{}",
        filtered.body
    );
    let anonymous = server.portal("GET", "/ui/alerts", &[], None);
    assert_ne!(anonymous.status, 200);
}
