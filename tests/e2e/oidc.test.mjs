// Single sign-on end to end, in Debian's Chromium driven by playwright-core:
// a `riposte serve` this file starts on a free port with its own ledger and
// the [oidc] section made from the lab's "oidc" object, and the lab's real
// OpenID Provider (node oidc-provider, https://127.0.0.1:8443/), whose own
// sign-in pages the browser goes through.
//
//   cd tests/e2e && npm ci && node --test oidc.test.mjs
//
// Needs the built binary (see harness.mjs) and the lab with its provider
// (scripts/lab up; scripts/lab oidc-up starts the provider alone). The
// provider's fault injector (lab only) makes the next token response for a
// given login carry a tampered, wrong-audience, expired or wrong-nonce ID token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { request } from "playwright-core";
import { Harness, labJson, shot, toml } from "./harness.mjs";

let providerApi;

/// The [oidc] section of the lab's provider, in place of the lab config's own
/// (the lab writes it only when asked; we always do).
function oidcSection(lab) {
  const o = lab.oidc;
  return {
    header: "oidc",
    lines: [
      "[oidc]",
      `issuer = ${toml(o.issuer)}`,
      `client_id = ${toml(o.client_id)}`,
      `client_secret_file = ${toml(o.client_secret_file)}`,
      `ca_file = ${toml(o.ca_file)}`,
      `display_name = "Lab provider"`,
      `scopes = ${toml(o.scopes ?? ["openid", "profile", "email"])}`,
      "[[oidc.role]]",
      `group = "soc-responders"`,
      `role = "responder"`,
      `forests = ["corp"]`,
      "[[oidc.role]]",
      `group = "soc-readers"`,
      `role = "reader"`,
    ],
  };
}

// The provider's certificate is signed by the lab's CA, not a public one.
const e2e = new Harness({ name: "oidc", section: oidcSection, context: { ignoreHTTPSErrors: true } });

before(async () => {
  const { oidc } = e2e.lab;
  assert.ok(oidc, `${labJson} has no "oidc" object: the lab's OpenID Provider is not set up (scripts/lab up)`);
  providerApi = await request.newContext({ ignoreHTTPSErrors: true });
  const discovery = await providerApi.get(`${oidc.issuer}.well-known/openid-configuration`);
  assert.equal(discovery.status(), 200, `the lab's OpenID Provider does not answer at ${oidc.issuer} (scripts/lab oidc-up)`);
  await e2e.start();
});

after(async () => {
  await armFault("none").catch(() => {});
  await providerApi?.dispose();
  await e2e.stop();
});

function person(login) {
  const p = e2e.lab.oidc.people.find((x) => x.login === login);
  assert.ok(p, `no ${login} among the lab provider's people`);
  return p;
}

/// Arms the provider's fault injector for the next token response for `login`.
async function armFault(next, login) {
  const secret = fs.readFileSync(e2e.lab.oidc.faults_secret_file, "utf8").trim();
  const r = await providerApi.post(e2e.lab.oidc.faults_url, {
    headers: { authorization: `Bearer ${secret}` },
    data: login ? { next, login } : { next },
  });
  assert.equal(r.status(), 200, await r.text());
}

/// Signs `login` in through the provider's own pages, in a fresh browser
/// context (no provider session). Ends on riposte's search page (signed in)
/// or its refusal page; `callbacks` are the callback URLs the browser opened.
async function ssoSignIn(login) {
  const context = await e2e.newContext();
  const page = await context.newPage();
  const callbacks = [];
  page.on("request", (r) => {
    if (r.url().includes("/ui/sign-in/oidc/callback")) callbacks.push(r.url());
  });
  await page.goto(`${e2e.base}/ui/sign-in`);
  assert.match(await page.textContent("a#sso"), /Sign in with Lab provider/);
  await page.click("a#sso");
  await page.waitForURL((u) => u.origin === new URL(e2e.lab.oidc.issuer).origin);
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", person(login).password);
  await page.click("button[type=submit]");
  await page.waitForSelector("#sso-refused, form.searchbar", { timeout: 30_000 });
  return { context, page, callbacks };
}

/// The audit trail's records, as `riposte audit export` gives them.
function auditRecords() {
  const out = e2e.riposte(["audit", "export", "--format", "raw"]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/// The audit trail's sign-in records of single sign-on.
function ssoAudit() {
  return auditRecords().filter((r) => r.event === "sign-in" && r.details?.method === "oidc");
}

/// Asserts the page is the refusal page for `why`, with one new audit record
/// saying so, and that the browser is not signed in.
async function assertRefused(page, why, auditBefore, title = "Sign-in refused") {
  assert.equal((await page.textContent("h1")).trim(), title);
  assert.equal(await page.getAttribute("#sso-refused", "data-why"), why);
  assert.ok((await page.textContent("#sso-refused .message")).trim().length > 20, "a sentence says why");
  const records = ssoAudit().slice(auditBefore);
  assert.deepEqual(
    records.map((r) => [r.result, r.details.why]),
    [["refused", why]],
    "one audit record of the refusal",
  );
  await page.goto(`${e2e.base}/ui/search`);
  assert.match(page.url(), /\/ui\/sign-in/, "no session was started");
}

test("alice signs in through the lab's provider and is a responder, with MFA from the provider", async () => {
  const before = ssoAudit().length;
  const { context, page } = await ssoSignIn("alice");
  try {
    assert.match(page.url(), /\/ui\/search$/);
    await shot(page, "oidc-01-alice-signed-in");
    assert.match(await page.textContent(".me .role"), /responder/);
    const records = ssoAudit().slice(before);
    assert.deepEqual(records.map((r) => r.result), ["success"]);
    assert.match(records[0].actor, /^user:alice/);
    assert.match(records[0].details.why, /second factor/, "alice's amr says mfa");
    await page.goto(`${e2e.base}/ui/identities/corp%3Aernie`);
    await page.waitForSelector("#state");
    assert.ok((await page.locator("#actions a").count()) > 0, "a responder sees action buttons");
    const listed = e2e.riposte(["--json", "person", "list"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /alice/);
  } finally {
    await context.close();
  }
});

test("bob's group maps to reader: no action buttons; his password cannot sign in locally", async () => {
  const { context, page } = await ssoSignIn("bob");
  try {
    assert.match(await page.textContent(".me .role"), /reader/);
    await page.goto(`${e2e.base}/ui/identities/corp%3Aernie`);
    await page.waitForSelector("#state");
    assert.equal(await page.locator("#actions").count(), 0);
    assert.equal(await page.locator("a[href*='/confirm']").count(), 0);
    await shot(page, "oidc-02-bob-reader");
  } finally {
    await context.close();
  }
  // A person who signs in by SSO has no riposte password: the local form
  // refuses them like any wrong password.
  const local = await e2e.newContext();
  try {
    const page = await local.newPage();
    await page.goto(`${e2e.base}/ui/sign-in`);
    await page.fill("input[name=name]", "bob");
    await page.fill("input[name=password]", person("bob").password);
    await page.click("button[type=submit]");
    await page.waitForSelector(".alert-danger");
    assert.match(await page.textContent(".alert-danger"), /Wrong name or password/);
  } finally {
    await local.close();
  }
});

test("carol's groups map to no role: No access, an audit record, and no person", async () => {
  const before = ssoAudit().length;
  const { context, page } = await ssoSignIn("carol");
  try {
    await shot(page, "oidc-03-carol-no-access");
    await assertRefused(page, "no-role", before, "No access");
    assert.match(ssoAudit().at(-1).actor, /carol/);
    const listed = e2e.riposte(["--json", "person", "list"]);
    assert.doesNotMatch(listed.stdout, /carol/, "nobody was created");
  } finally {
    await context.close();
  }
});

for (const [fault, why] of [
  ["tampered", "bad-signature"],
  ["wrong-audience", "wrong-audience"],
  ["expired", "expired"],
  ["wrong-nonce", "wrong-nonce"],
]) {
  test(`a ${fault} ID token is refused with a page and an audit record`, async () => {
    const before = ssoAudit().length;
    await armFault(fault, "bob");
    const { context, page } = await ssoSignIn("bob");
    try {
      await shot(page, `oidc-04-${fault}`);
      await assertRefused(page, why, before);
    } finally {
      await armFault("none").catch(() => {});
      await context.close();
    }
  });
}

test("a replayed callback URL (same state) is refused", async () => {
  const { context, page, callbacks } = await ssoSignIn("bob");
  try {
    assert.match(page.url(), /\/ui\/search$/, "the first use signs in");
    assert.equal(callbacks.length, 1);
    const before = ssoAudit().length;
    await page.goto(callbacks[0]);
    assert.equal(await page.getAttribute("#sso-refused", "data-why"), "replayed-state");
    assert.equal((await page.textContent("h1")).trim(), "Sign-in refused");
    assert.deepEqual(
      ssoAudit().slice(before).map((r) => [r.result, r.details.why]),
      [["refused", "replayed-state"]],
    );
    await shot(page, "oidc-05-replayed");
  } finally {
    await context.close();
  }
});

test("a browser without the sign-in's binding cookie cannot finish it", async () => {
  // As if the provider's answer were opened in another browser (a login CSRF,
  // a link sent to someone): the callback is good and unused, the cookie is not there.
  const before = ssoAudit().length;
  const context = await e2e.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${e2e.base}/ui/sign-in`);
    await page.click("a#sso");
    await page.waitForURL((u) => u.origin === new URL(e2e.lab.oidc.issuer).origin);
    assert.ok((await context.cookies()).some((c) => c.name === "riposte_oidc"), "the sign-in is bound to this browser");
    await context.clearCookies({ name: "riposte_oidc" });
    await page.fill("input[name=login]", "bob");
    await page.fill("input[name=password]", person("bob").password);
    await page.click("button[type=submit]");
    await page.waitForSelector("#sso-refused, form.searchbar", { timeout: 30_000 });
    await assertRefused(page, "browser-mismatch", before);
  } finally {
    await context.close();
  }
});

test("sign-out ends the session: the old cookie no longer works", async () => {
  const { context, page } = await ssoSignIn("alice");
  try {
    const session = (await context.cookies()).find((c) => c.name === "riposte_session");
    assert.ok(session, "a session cookie was set");
    await page.click("form[action='/ui/sign-out'] button");
    await page.waitForURL(/\/ui\/sign-in/);
    const records = auditRecords();
    assert.equal(records.at(-1).event, "sign-out");
    // The old cookie, put back into a browser, opens nothing.
    const replay = await e2e.newContext();
    try {
      await replay.addCookies([session]);
      const again = await replay.newPage();
      await again.goto(`${e2e.base}/ui/search`);
      assert.match(again.url(), /\/ui\/sign-in/);
    } finally {
      await replay.close();
    }
  } finally {
    await context.close();
  }
});
