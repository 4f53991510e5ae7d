//! People, sessions and tokens with a lifecycle, through the real binary: disabling a
//! person ends their portal session and their API token on the very next request; tokens
//! expire, record their last use and never reuse a name; sessions end after the configured
//! idle time and at their absolute end; the admin page lists people, sessions and tokens
//! and its buttons revoke them (admins only, CSRF-checked, audited).
//!
//! Time is never waited for: a session left idle or a token past its expiry is made by
//! moving its times back in the ledger, as the passing of time would.

use std::path::PathBuf;

use crate::harness::{Portal, Serve};
use riposte_core::secret_token;
use serde_json::Value;
use sqlx::Connection;
use time::OffsetDateTime;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn ledger(serve: &Serve) -> PathBuf {
    serve.config.parent().unwrap().join("data/riposte.sqlite")
}

/// One statement on the server's ledger, binding `millis` and then `key`: how many rows it changed.
fn shift(serve: &Serve, sql: &'static str, millis: i64, key: &str) -> u64 {
    let path = ledger(serve);
    block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query(sql)
            .bind(millis)
            .bind(key)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected()
    })
}

fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The secret of a `riposte_session=<secret>` cookie, hashed as the store keeps it.
fn session_hash(cookie: &str) -> String {
    secret_token::hash(cookie.trim_start_matches("riposte_session="))
}

fn whoami_with_session(serve: &Serve, session: &str) -> u16 {
    serve
        .portal("GET", "/api/v1/whoami", &[session], None)
        .status
}

/// A page with this session: 200, or a redirect to sign in.
fn page(serve: &Serve, session: &str) -> Portal {
    serve.portal("GET", "/ui/search", &[session], None)
}

fn signed_out(reply: &Portal) -> bool {
    reply.status == 303 && reply.location().starts_with("/ui/sign-in")
}

fn tokens(serve: &Serve) -> Vec<Value> {
    let listed = serve.cli(&[], &["--json", "token", "list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    listed.json()["tokens"].as_array().cloned().unwrap()
}

fn token_named(serve: &Serve, name: &str) -> Value {
    tokens(serve)
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no token {name}"))
}

fn events<'a>(audit: &'a [Value], event: &str) -> Vec<&'a Value> {
    audit.iter().filter(|r| r["event"] == event).collect()
}

fn rfc3339(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a time: {v}")),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[test]
fn disabling_a_person_ends_their_session_and_their_token_on_the_next_request() {
    let lab = crate::harness::lab();
    let serve = Serve::on_lab(&lab, "").start();
    serve.person("dora", "responder");
    let token = serve.token("dora-ci", "responder", &["--owner", "dora"]);
    let (session, _) = serve.session("dora");
    assert_eq!(serve.api(&token, "GET", "/api/v1/whoami", None).status, 200);
    assert_eq!(whoami_with_session(&serve, &session), 200);
    assert_eq!(page(&serve, &session).status, 200);

    let disabled = serve.cli(&[], &["person", "disable", "dora"]);
    assert_eq!(disabled.code, 0, "{}", disabled.stderr);
    assert!(disabled.stdout.contains("revoked"), "{}", disabled.stdout);

    // The very next request with each is refused.
    let api = serve.api(&token, "GET", "/api/v1/whoami", None);
    assert_eq!(api.status, 401, "{}", api.body);
    assert!(signed_out(&page(&serve, &session)));
    assert_eq!(whoami_with_session(&serve, &session), 401);
    // Enabling her again brings neither back: they were revoked, not suspended.
    let enabled = serve.cli(&[], &["person", "enable", "dora"]);
    assert_eq!(enabled.code, 0, "{}", enabled.stderr);
    assert_eq!(serve.api(&token, "GET", "/api/v1/whoami", None).status, 401);
    assert!(signed_out(&page(&serve, &session)));
    assert_eq!(token_named(&serve, "dora-ci")["state"], "revoked");
    // An unknown name changes nothing and says so.
    let nobody = serve.cli(&[], &["person", "disable", "nobody-here"]);
    assert_eq!(nobody.code, 2);
    assert!(
        nobody.stderr.contains("nobody is named"),
        "{}",
        nobody.stderr
    );

    let audit = serve.audit();
    let disabled = events(&audit, "person-disabled");
    assert_eq!(disabled.len(), 1, "{audit:#?}");
    assert_eq!(disabled[0]["target"], "user:dora");
    assert_eq!(disabled[0]["source"], "cli");
    assert_eq!(events(&audit, "person-enabled").len(), 1);
}

#[test]
fn a_person_may_not_disable_themselves_with_their_own_token() {
    let lab = crate::harness::lab();
    let serve = Serve::on_lab(&lab, "").start();
    serve.person("adam", "admin");
    let token = serve.token("adam-cli", "admin", &["--owner", "adam"]);
    let own = serve.cli(&[("RIPOSTE_TOKEN", &token)], &["person", "disable", "adam"]);
    assert_eq!(own.code, 2, "{}", own.stderr);
    assert!(
        own.stderr.contains("cannot disable themselves"),
        "{}",
        own.stderr
    );
    assert_eq!(serve.api(&token, "GET", "/api/v1/whoami", None).status, 200);
}

#[test]
fn tokens_expire_record_their_last_use_and_never_reuse_a_name() {
    let lab = crate::harness::lab();
    let serve = Serve::on_lab(&lab, "").start();
    serve.person("dora", "responder");

    // --expires sets the end; 90 days unless told.
    let before = OffsetDateTime::now_utc();
    let made = serve.cli(
        &[],
        &[
            "--json",
            "token",
            "create",
            "--name",
            "short",
            "--role",
            "reader",
            "--expires",
            "12h",
        ],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let made = made.json();
    let ends = rfc3339(&made["expires_at"]) - before;
    assert!(
        ends > time::Duration::hours(12) - time::Duration::minutes(1)
            && ends <= time::Duration::hours(12) + time::Duration::minutes(1),
        "{made}"
    );
    let secret = made["token"].as_str().unwrap().to_string();
    let default = serve.cli(
        &[],
        &[
            "token", "create", "--name", "ninety", "--role", "reader", "--owner", "dora",
        ],
    );
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert!(
        default.stdout.contains("belongs to dora"),
        "{}",
        default.stdout
    );
    assert!(default.stdout.contains("created by "), "{}", default.stdout);
    let ninety = rfc3339(&token_named(&serve, "ninety")["expires_at"]) - before;
    assert!(
        ninety > time::Duration::days(90) - time::Duration::minutes(1),
        "{ninety}"
    );
    assert!(
        ninety <= time::Duration::days(90) + time::Duration::minutes(1),
        "{ninety}"
    );

    // Lifetimes that are too long or not a lifetime are refused, and nothing is made.
    for (expires, says) in [
        ("367d", "at most 366 days"),
        ("5x", "e.g. 90d"),
        ("1w", "e.g. 90d"),
    ] {
        let refused = serve.cli(
            &[],
            &[
                "token",
                "create",
                "--name",
                "refused",
                "--role",
                "reader",
                "--expires",
                expires,
            ],
        );
        assert_eq!(refused.code, 2, "{expires}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(says),
            "{expires}: {}",
            refused.stderr
        );
    }
    assert!(tokens(&serve).iter().all(|t| t["name"] != "refused"));

    // Its last use is recorded, and listed.
    let listed = token_named(&serve, "short");
    assert_eq!(listed["last_used_at"], Value::Null, "{listed}");
    assert_eq!(listed["state"], "live");
    assert_eq!(
        serve.api(&secret, "GET", "/api/v1/whoami", None).status,
        200
    );
    let listed = token_named(&serve, "short");
    let used = rfc3339(&listed["last_used_at"]);
    assert!(used >= before, "{listed}");
    assert!(listed["created_by"].as_str().is_some_and(|c| !c.is_empty()));
    let table = serve.cli(&[], &["token", "list"]);
    assert!(table.stdout.contains("LAST USED"), "{}", table.stdout);
    let short_row = table
        .stdout
        .lines()
        .find(|l| l.contains(" short "))
        .unwrap();
    assert!(
        short_row.contains("(service)") && short_row.contains(" live "),
        "{short_row}"
    );

    // Past its expiry it is refused, and listed as expired.
    assert_eq!(
        shift(
            &serve,
            "UPDATE api_tokens SET expires_at = ? WHERE name = ?",
            now_millis() - 1_000,
            "short",
        ),
        1
    );
    let expired = serve.api(&secret, "GET", "/api/v1/whoami", None);
    assert_eq!(expired.status, 401, "{}", expired.body);
    assert_eq!(token_named(&serve, "short")["state"], "expired");
    let table = serve.cli(&[], &["token", "list"]);
    let short_row = table
        .stdout
        .lines()
        .find(|l| l.contains(" short "))
        .unwrap();
    assert!(short_row.contains(" expired "), "{short_row}");

    // A name is never given to a second token: not while live, not after revocation.
    let id = token_named(&serve, "ninety")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = serve.cli(&[], &["token", "revoke", &id]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    for name in ["short", "ninety"] {
        let again = serve.cli(
            &[],
            &["token", "create", "--name", name, "--role", "reader"],
        );
        assert_eq!(again.code, 2, "{name}: {}", again.stderr);
        assert!(
            again.stderr.contains("exists or existed") && again.stderr.contains("pick another"),
            "{name}: {}",
            again.stderr
        );
    }
    assert_eq!(tokens(&serve).len(), 2);

    let audit = serve.audit();
    let created = events(&audit, "token-created");
    assert_eq!(created.len(), 2, "{audit:#?}");
    assert!(
        created
            .iter()
            .all(|r| r["details"]["expires_at"].is_string())
    );
    assert_eq!(events(&audit, "token-revoked").len(), 1);
    for record in &audit {
        assert!(
            !record.to_string().contains(&secret),
            "a token secret reached the audit trail"
        );
    }
}

#[test]
fn sessions_end_after_the_configured_idle_time_and_at_their_absolute_end() {
    let lab = crate::harness::lab();
    let serve = Serve::on_lab(
        &lab,
        "\n[portal]\nsession_hours = 2\nsession_idle_minutes = 5\n",
    )
    .start();
    serve.person("dora", "responder");

    // The cookie lives as long as the session may.
    let form = serve.portal("GET", "/ui/sign-in", &[], None);
    let csrf = form.cookie("riposte_sign_in").unwrap();
    let signed = serve.portal(
        "POST",
        "/ui/sign-in",
        &[&format!("riposte_sign_in={csrf}")],
        Some(&format!(
            "name=dora&password={}&csrf={csrf}&next=%2Fui%2Fsearch",
            crate::harness::PASSWORD
        )),
    );
    assert_eq!(signed.status, 303, "{}", signed.body);
    let set = signed.set_cookie("riposte_session").unwrap();
    assert!(set.contains("Max-Age=7200"), "{set}");

    let (idle, _) = serve.session("dora");
    let (recent, _) = serve.session("dora");
    let (ended, _) = serve.session("dora");
    for session in [&idle, &recent, &ended] {
        assert_eq!(page(&serve, session).status, 200);
    }
    let now = now_millis();
    let last_seen = "UPDATE sessions SET last_seen_at = ? WHERE secret_hash = ?";
    // Six minutes without a request: past the configured five (the default, 30, would keep it).
    assert_eq!(
        shift(&serve, last_seen, now - 6 * 60_000, &session_hash(&idle)),
        1
    );
    // Four minutes: still within it.
    assert_eq!(
        shift(&serve, last_seen, now - 4 * 60_000, &session_hash(&recent)),
        1
    );
    // Active, but past its absolute end.
    let expiry = "UPDATE sessions SET expires_at = ? WHERE secret_hash = ?";
    assert_eq!(shift(&serve, expiry, now - 1_000, &session_hash(&ended)), 1);

    assert!(signed_out(&page(&serve, &idle)));
    assert_eq!(whoami_with_session(&serve, &idle), 401);
    assert!(signed_out(&page(&serve, &ended)));
    assert_eq!(page(&serve, &recent).status, 200);
    // That request counted as activity: the idle time starts again from it.
    let seen = last_seen_at(&serve, &session_hash(&recent));
    assert!(seen >= now - 1_000, "last seen {seen}, now {now}");
}

fn last_seen_at(serve: &Serve, hash: &str) -> i64 {
    let path = ledger(serve);
    block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT last_seen_at FROM sessions WHERE secret_hash = ?")
            .bind(hash)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

/// The id in `<tr id="{prefix}{id}" {attribute}="{value}">` on the admin page.
fn row_id(body: &str, prefix: &str, attribute: &str, value: &str) -> String {
    let tail = format!("\" {attribute}=\"{value}\">");
    let end = body
        .find(&tail)
        .unwrap_or_else(|| panic!("no row {attribute}={value}: {body}"));
    let start = body[..end].rfind(prefix).unwrap() + prefix.len();
    body[start..end].to_string()
}

#[test]
fn the_admin_page_lists_people_sessions_and_tokens_and_revokes_them() {
    let lab = crate::harness::lab();
    let serve = Serve::on_lab(&lab, "").start();
    serve.person("adam", "admin");
    serve.person("dora", "responder");
    serve.person("rita", "reader");
    let dora_token = serve.token("dora-ci", "responder", &["--owner", "dora"]);
    serve.token("siem", "forwarder", &[]);
    let (adam, adam_csrf) = serve.session("adam");
    let (dora, _) = serve.session("dora");
    let (rita, rita_csrf) = serve.session("rita");

    // Every page's header says who is signed in and how; only an admin's links the page.
    let search = page(&serve, &adam);
    assert!(
        search.body.contains("local, no second factor"),
        "{}",
        search.body
    );
    assert!(search.body.contains("href=\"/ui/admin/people\""));
    let search = page(&serve, &rita);
    assert!(search.body.contains("local, no second factor"));
    assert!(!search.body.contains("href=\"/ui/admin/people\""));
    // Anyone else is refused the page and its buttons.
    let refused = serve.portal("GET", "/ui/admin/people", &[&rita], None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("the admin role"), "{}", refused.body);
    let refused = serve.portal(
        "POST",
        "/ui/admin/people/dora/disable",
        &[&rita],
        Some(&format!("csrf={rita_csrf}")),
    );
    assert_eq!(refused.status, 403);
    assert_eq!(page(&serve, &dora).status, 200);
    assert!(signed_out(&serve.portal(
        "GET",
        "/ui/admin/people",
        &[],
        None
    )));

    let listed = serve.portal("GET", "/ui/admin/people", &[&adam], None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    for shown in [
        "data-name=\"dora\"",
        "data-name=\"rita\"",
        "data-name=\"dora-ci\"",
        "data-name=\"siem\"",
        "(service)",
        "data-person=\"dora\"",
        "127.0.0.1",
        "/ui/admin/people/rita/disable",
    ] {
        assert!(listed.body.contains(shown), "{shown}: {}", listed.body);
    }
    // No Disable button on the admin's own row, and the rule holds if posted by hand.
    assert!(!listed.body.contains("/ui/admin/people/adam/disable"));
    let own = serve.portal(
        "POST",
        "/ui/admin/people/adam/disable",
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(
        own.body.contains("cannot disable themselves"),
        "{}",
        own.body
    );
    assert_eq!(page(&serve, &adam).status, 200);

    // Revoking dora's session: not without the session's CSRF token; with it, her next
    // request goes to sign-in.
    let session = row_id(&listed.body, "session-", "data-person", "dora");
    let revoke = format!("/ui/admin/sessions/{session}/revoke");
    let forged = serve.portal("POST", &revoke, &[&adam], Some("csrf=forged"));
    assert_eq!(forged.status, 403);
    assert_eq!(page(&serve, &dora).status, 200);
    let revoked = serve.portal(
        "POST",
        &revoke,
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(revoked.location(), "/ui/admin/people");
    assert!(signed_out(&page(&serve, &dora)));
    let again = serve.portal(
        "POST",
        &revoke,
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(again.status, 404, "{}", again.body);

    // Revoking her token: refused on its next use, listed as revoked with no button.
    let token = row_id(&listed.body, "token-", "data-name", "dora-ci");
    let revoked = serve.portal(
        "POST",
        &format!("/ui/admin/tokens/{token}/revoke"),
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(
        serve.api(&dora_token, "GET", "/api/v1/whoami", None).status,
        401
    );
    let listed = serve.portal("GET", "/ui/admin/people", &[&adam], None);
    assert!(
        !listed
            .body
            .contains(&format!("/ui/admin/tokens/{token}/revoke"))
    );
    assert!(
        !listed.body.contains("data-person=\"dora\""),
        "her session is gone"
    );

    // Disabling rita ends her session; enabling her shows her active again.
    let disabled = serve.portal(
        "POST",
        "/ui/admin/people/rita/disable",
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(disabled.status, 303, "{}", disabled.body);
    assert!(signed_out(&page(&serve, &rita)));
    let listed = serve.portal("GET", "/ui/admin/people", &[&adam], None);
    assert!(
        listed.body.contains("/ui/admin/people/rita/enable"),
        "{}",
        listed.body
    );
    let enabled = serve.portal(
        "POST",
        "/ui/admin/people/rita/enable",
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(enabled.status, 303, "{}", enabled.body);

    // Resetting rita's password from the page: a new one shown to the admin once,
    // her old one refused, the new one good only for choosing her own.
    let (rita, _) = serve.session("rita");
    let forged = serve.portal(
        "POST",
        "/ui/admin/people/rita/reset-password",
        &[&adam],
        Some("csrf=forged"),
    );
    assert_eq!(forged.status, 403);
    let reset = serve.portal(
        "POST",
        "/ui/admin/people/rita/reset-password",
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    let new_password = reset
        .body
        .split("<code id=\"new-password\">")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the new password, shown once")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'");
    assert!(signed_out(&page(&serve, &rita)), "her sessions end");
    let sign_in = |password: &str| {
        let form = serve.portal("GET", "/ui/sign-in", &[], None);
        let csrf = form.cookie("riposte_sign_in").expect("a sign-in cookie");
        let encoded: String = password
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        serve.portal(
            "POST",
            "/ui/sign-in",
            &[&format!("riposte_sign_in={csrf}")],
            Some(&format!(
                "name=rita&password={encoded}&csrf={csrf}&next=%2Fui%2Fsearch"
            )),
        )
    };
    assert_eq!(sign_in(crate::harness::PASSWORD).status, 401);
    let signed = sign_in(&new_password);
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/ui/account/password");
    let rita_reset = serve.portal(
        "POST",
        "/ui/admin/people/rita/reset-second-factor",
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(rita_reset.status, 303, "{}", rita_reset.body);

    let missing = serve.portal(
        "POST",
        "/ui/admin/people/nobody-here/disable",
        &[&adam],
        Some(&format!("csrf={adam_csrf}")),
    );
    assert_eq!(missing.status, 404, "{}", missing.body);

    // Each change is in the audit trail, by the admin, from the portal and their address.
    let audit = serve.audit();
    for (event, target) in [
        ("session-revoked", format!("session-id:{session}")),
        ("token-revoked", format!("token-id:{token}")),
        ("person-disabled", "user:rita".to_string()),
        ("person-enabled", "user:rita".to_string()),
        ("password-reset", "user:rita".to_string()),
        ("second-factor-reset", "user:rita".to_string()),
    ] {
        let found = events(&audit, event);
        assert_eq!(found.len(), 1, "{event}: {audit:#?}");
        assert_eq!(found[0]["actor"], "user:adam", "{event}");
        assert_eq!(found[0]["source"], "portal", "{event}");
        assert_eq!(found[0]["target"], target.as_str(), "{event}");
        assert_eq!(found[0]["remote_addr"], "127.0.0.1", "{event}");
    }
}
