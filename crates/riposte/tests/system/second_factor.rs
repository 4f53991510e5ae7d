//! Local people's second factor and password lifecycle over plain HTTP (no browser) and the
//! CLI: TOTP enrolment, the sign-in's second step (no session before the code, a code and a
//! recovery code work once, wrong codes throttled with 429 and Retry-After), and the admin
//! resets (`riposte person reset-password`, `reset-second-factor`). The browser flow is
//! tests/e2e/totp.test.mjs.

use crate::harness::{PASSWORD, Portal, Serve};
use riposte_server::second_factor::code_at;

/// A signed-in browser: its session cookie and the session's CSRF token.
struct Browser {
    session: String,
    csrf: String,
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    text.split(start).nth(1)?.split(end).next()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `POST /ui/sign-in` with `password`: the answer.
fn password_step(server: &Serve, name: &str, password: &str) -> Portal {
    let form = server.portal("GET", "/ui/sign-in", &[], None);
    let csrf = form.cookie("riposte_sign_in").expect("a sign-in cookie");
    server.portal(
        "POST",
        "/ui/sign-in",
        &[&format!("riposte_sign_in={csrf}")],
        Some(&format!(
            "name={name}&password={password}&csrf={csrf}&next=%2Fui%2Fsearch"
        )),
    )
}

/// The session a 303 answer set, with its CSRF token read off the account page.
fn browser_of(server: &Serve, signed: &Portal) -> Browser {
    let session = format!(
        "riposte_session={}",
        signed.cookie("riposte_session").expect("a session cookie")
    );
    let page = server.portal("GET", "/ui/account", &[&session], None);
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = between(&page.body, "name=\"csrf\" value=\"", "\"")
        .expect("the session's CSRF token")
        .to_string();
    Browser { session, csrf }
}

/// The pending second step after a right password: its cookie and the code form's token.
fn second_step(server: &Serve, name: &str) -> (String, String) {
    let signed = password_step(server, name, PASSWORD);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/ui/sign-in/second-factor");
    assert!(
        signed.set_cookie("riposte_session").is_none(),
        "no session before the code"
    );
    let pending = format!(
        "riposte_second_factor={}",
        signed
            .cookie("riposte_second_factor")
            .expect("the second step's cookie")
    );
    // Nothing is reachable with the pending cookie alone.
    let search = server.portal("GET", "/ui/search", &[&pending], None);
    assert_eq!(search.status, 303);
    assert!(search.location().starts_with("/ui/sign-in"));
    let page = server.portal("GET", "/ui/sign-in/second-factor", &[&pending], None);
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = between(&page.body, "name=\"csrf\" value=\"", "\"")
        .unwrap()
        .to_string();
    (pending, csrf)
}

fn send_code(server: &Serve, (pending, csrf): &(String, String), code: &str) -> Portal {
    server.portal(
        "POST",
        "/ui/sign-in/second-factor",
        &[pending],
        Some(&format!("csrf={csrf}&code={code}")),
    )
}

/// Enrols `browser`'s person: the secret (read off the page) and the recovery codes.
fn enrol(server: &Serve, browser: &Browser) -> (String, Vec<String>) {
    let page = server.portal(
        "GET",
        "/ui/account/second-factor",
        &[&browser.session],
        None,
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code drawn inline");
    let secret = between(&page.body, "id=\"totp-secret\">", "<")
        .unwrap()
        .to_string();
    let wrong = server.portal(
        "POST",
        "/ui/account/second-factor",
        &[&browser.session],
        Some(&format!("csrf={}&code=abcdef", browser.csrf)),
    );
    assert_eq!(wrong.status, 422, "not a code: TOTP stays off");
    let confirmed = server.portal(
        "POST",
        "/ui/account/second-factor",
        &[&browser.session],
        Some(&format!(
            "csrf={}&code={}",
            browser.csrf,
            code_at(&secret, now()).unwrap()
        )),
    );
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let list = between(&confirmed.body, "id=\"recovery-codes\">", "</ul>").unwrap();
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().trim().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{list}");
    (secret, codes)
}

fn events<'a>(audit: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    audit.iter().filter(|r| r["event"] == event).collect()
}

#[test]
fn totp_sign_in_needs_the_code_once_and_wrong_codes_are_throttled() {
    let lab = crate::harness::lab();
    let server = Serve::on_lab_without_tailing(
        &lab,
        "\n[limits]\nsign_in_failures_per_name = 4\nsign_in_window_seconds = 600\n",
    )
    .start();
    server.person("tom", "responder");
    let first = password_step(&server, "tom", PASSWORD);
    assert_eq!(first.status, 303, "no second factor yet: a session at once");
    assert_eq!(first.location(), "/ui/search");
    let browser = browser_of(&server, &first);
    let (secret, recovery) = enrol(&server, &browser);

    // The password alone is no longer enough; the next step's code is (the enrolment
    // spent this one; one step of drift is allowed).
    let code = code_at(&secret, now() + 30).unwrap();
    let signed = send_code(&server, &second_step(&server, "tom"), &code);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/ui/search");
    let account = server.portal(
        "GET",
        "/ui/account",
        &[&browser_of(&server, &signed).session],
        None,
    );
    assert!(account.body.contains("TOTP"), "{}", account.body);

    // A recovery code, typed in capitals, signs in once.
    let by_recovery = send_code(
        &server,
        &second_step(&server, "tom"),
        &recovery[0].to_uppercase(),
    );
    assert_eq!(by_recovery.status, 303, "{}", by_recovery.body);
    let account = server.portal(
        "GET",
        "/ui/account",
        &[&browser_of(&server, &by_recovery).session],
        None,
    );
    assert!(
        account.body.contains("id=\"recovery-codes-left\">9<"),
        "{}",
        account.body
    );

    // The same TOTP code again, the same recovery code again, then wrong codes: each a
    // failure, none a session; the fourth locks the name, and the next is 429.
    let step = second_step(&server, "tom");
    for (attempt, typed) in [code.clone(), recovery[0].clone(), "000000".into()]
        .iter()
        .enumerate()
    {
        let refused = send_code(&server, &step, typed);
        assert_eq!(refused.status, 401, "attempt {attempt}: {}", refused.body);
        assert!(refused.set_cookie("riposte_session").is_none());
    }
    let fourth = send_code(&server, &step, "999999");
    assert_eq!(fourth.status, 401, "{}", fourth.body);
    let throttled = send_code(&server, &step, &code_at(&secret, now()).unwrap());
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.set_cookie("riposte_session").is_none());
    let retry_after: u64 = throttled
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .map(|(_, v)| v.parse().unwrap())
        .expect("Retry-After");
    assert!(retry_after > 0 && retry_after <= 600, "{retry_after}");
    // The password step is locked for the name too.
    assert_eq!(password_step(&server, "tom", PASSWORD).status, 429);

    let audit = server.audit();
    assert!(
        events(&audit, "sign-in")
            .iter()
            .any(|r| r["result"] == "throttled" && r["actor"] == "user:tom"),
        "{audit:#?}"
    );
    assert!(
        events(&audit, "sign-in-failed")
            .iter()
            .any(|r| r["details"]["why"] == "wrong second-factor code"),
        "{audit:#?}"
    );
    let enrolled = events(&audit, "second-factor-enrolled");
    assert_eq!(enrolled.len(), 1, "{audit:#?}");
    let text = serde_json::to_string(&audit).unwrap();
    for secret_text in [secret.as_str(), recovery[1].as_str(), code.as_str()] {
        assert!(
            !text.contains(secret_text),
            "a secret in the audit trail: {secret_text}"
        );
    }
}

#[test]
fn an_admin_resets_a_password_and_a_second_factor_from_the_cli() {
    let lab = crate::harness::lab();
    let server = Serve::on_lab_without_tailing(&lab, "").start();
    server.person("rita", "responder");
    let old = browser_of(&server, &password_step(&server, "rita", PASSWORD));
    let (_, _) = enrol(&server, &old);

    // Refused, changing nothing: nobody of that name; a password that is the name.
    let nobody = server.cli(&[], &["person", "reset-second-factor", "nobody"]);
    assert_eq!(nobody.code, 2, "{}", nobody.stderr);
    assert!(
        nobody.stderr.contains("nobody is named"),
        "{}",
        nobody.stderr
    );

    let reset = server.cli(&[], &["person", "reset-second-factor", "rita"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    // The password alone signs in again.
    let signed = password_step(&server, "rita", PASSWORD);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/ui/search");

    let new_password = "rita-new-password-2";
    let out = reset_password(&server, "rita", new_password);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(new_password));
    // Every session of theirs ended.
    let ended = server.portal("GET", "/ui/search", &[&old.session], None);
    assert_eq!(ended.status, 303);
    assert!(ended.location().starts_with("/ui/sign-in"));
    assert_eq!(password_step(&server, "rita", PASSWORD).status, 401);
    // The new one signs in, and sends them to choose their own before anything else.
    let signed = password_step(&server, "rita", new_password);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/ui/account/password");
    let session = format!(
        "riposte_session={}",
        signed.cookie("riposte_session").unwrap()
    );
    let search = server.portal("GET", "/ui/search", &[&session], None);
    assert_eq!(search.status, 303);
    assert_eq!(search.location(), "/ui/account/password");
    let api = server.portal("GET", "/api/v1/whoami", &[&session], None);
    assert_eq!(api.status, 403, "{}", api.body);
    let page = server.portal("GET", "/ui/account/password", &[&session], None);
    assert_eq!(page.status, 200);
    let csrf = between(&page.body, "name=\"csrf\" value=\"", "\"").unwrap();
    let form = |new: &str, repeat: &str| {
        format!("csrf={csrf}&current={new_password}&new={new}&repeat={repeat}")
    };
    for (new, repeat, why) in [
        ("rita-chosen-password-3", "rita-chosen-password-4", "differ"),
        ("short", "short", "at least 12"),
        ("RITA", "RITA", "must not be the person"),
    ] {
        let refused = server.portal(
            "POST",
            "/ui/account/password",
            &[&session],
            Some(&form(new, repeat)),
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains(why), "{why}: {}", refused.body);
    }
    let changed = server.portal(
        "POST",
        "/ui/account/password",
        &[&session],
        Some(&form("rita-chosen-password-3", "rita-chosen-password-3")),
    );
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        server.portal("GET", "/ui/search", &[&session], None).status,
        200,
        "this session goes on"
    );
    assert_eq!(password_step(&server, "rita", new_password).status, 401);
    assert_eq!(
        password_step(&server, "rita", "rita-chosen-password-3").location(),
        "/ui/search"
    );

    let bad = reset_password(&server, "rita", "rita");
    assert_eq!(bad.status.code(), Some(2), "the name is no password");
    let audit = server.audit();
    for event in ["password-reset", "second-factor-reset", "password-changed"] {
        let found = events(&audit, event);
        assert_eq!(found.len(), 1, "{event}: {audit:#?}");
        assert_eq!(found[0]["target"], "user:rita");
    }
    assert!(
        events(&audit, "password-reset")[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains(new_password) && !text.contains("rita-chosen-password-3"));
}

fn reset_password(server: &Serve, name: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(&server.config)
        .args(["person", "reset-password", name, "--password-stdin"])
        .env_remove("RIPOSTE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}
