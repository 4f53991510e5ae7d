// A local person's second factor end to end, in Debian's Chromium driven by
// playwright-core, against a `riposte serve` this file starts on a free port
// with its own ledger: enrolment (the secret read off the page), sign-out,
// sign-in with the password and a TOTP code computed here (RFC 6238 with
// node's HMAC-SHA-1), the account page saying TOTP, and a wrong code refused.
//
//   cd tests/e2e && npm ci && node --test totp.test.mjs
//
// Needs the built binary and the lab (see harness.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Harness, shot } from "./harness.mjs";

const NAME = "tess";
const PASSWORD = "e2e-totp-password-1";
const CODE_BUTTON = "form[action='/ui/sign-in/second-factor'] button";

/// RFC 4648 base32 (no padding) to bytes.
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    const i = alphabet.indexOf(c);
    assert.ok(i >= 0, `not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/// RFC 6238 TOTP: HMAC-SHA-1 of the 30-second step, dynamic truncation, 6 digits.
function totp(secret, unixSeconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 1_000_000).padStart(6, "0");
}

test("the RFC 6238 appendix B vectors (SHA-1) hold for the test's own TOTP", () => {
  const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // "12345678901234567890"
  assert.equal(totp(secret, 59), "287082");
  assert.equal(totp(secret, 1111111109), "081804");
  assert.equal(totp(secret, 2000000000), "279037");
});

const e2e = new Harness({ name: "totp", people: [{ name: NAME, role: "responder", password: PASSWORD }] });
before(() => e2e.start());
after(() => e2e.stop());

async function typePassword(page) {
  await page.goto(`${e2e.base}/ui/sign-in`);
  await page.fill("input[name=name]", NAME);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("form[action='/ui/sign-in'] button");
}

test("a local person enrols TOTP, signs in with password and code, and a wrong code is refused", async () => {
  const context = await e2e.newContext();
  const page = await context.newPage();
  try {
    // Password only: TOTP is not on yet.
    await typePassword(page);
    await page.waitForURL(/\/ui\/search/);
    await page.goto(`${e2e.base}/ui/account`);
    assert.match(await page.textContent("#second-factor"), /none/);

    // Enrolment: the QR code (inline SVG) and the secret, shown once.
    await page.click("#enrol-second-factor");
    await page.waitForURL(/\/ui\/account\/second-factor/);
    assert.equal(await page.locator("figure.qr svg path").count(), 1, "a QR code drawn as SVG");
    const secret = (await page.textContent("#totp-secret")).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await shot(page, "totp-01-enrol");
    await page.fill("input[name=code]", totp(secret, Date.now() / 1000));
    await page.click("form[action='/ui/account/second-factor'] button");
    await page.waitForSelector("#recovery-codes");
    const codes = await page.locator("#recovery-codes li").allTextContents();
    assert.equal(codes.length, 10, "ten recovery codes, shown once");
    await shot(page, "totp-02-recovery-codes");
    await page.goto(`${e2e.base}/ui/account`);
    assert.match(await page.textContent("#second-factor"), /TOTP/);
    assert.equal((await page.textContent("#recovery-codes-left")).trim(), "10");

    // Sign out; the password alone now leads to the code page, not to a session.
    await page.click("form[action='/ui/sign-out'] button");
    await page.waitForURL(/\/ui\/sign-in/);
    await typePassword(page);
    await page.waitForURL(/\/ui\/sign-in\/second-factor/);
    const cookies = await context.cookies();
    assert.ok(!cookies.some((c) => c.name === "riposte_session"), "no session before the code");
    const blocked = await page.evaluate(async () => (await fetch("/ui/search", { redirect: "manual" })).type);
    assert.equal(blocked, "opaqueredirect", "pages still send the browser to sign in");

    // A wrong code is refused on the page.
    const now = Date.now() / 1000;
    const right = new Set([-1, 0, 1, 2].map((s) => totp(secret, now + 30 * s)));
    let wrong = 0;
    while (right.has(String(wrong).padStart(6, "0"))) wrong++;
    await page.fill("input[name=code]", String(wrong).padStart(6, "0"));
    const refused = page.waitForResponse((r) => r.url().endsWith("/ui/sign-in/second-factor") && r.request().method() === "POST");
    await page.click(CODE_BUTTON);
    assert.equal((await refused).status(), 401);
    assert.match(await page.textContent("[role=alert]"), /wrong or was already used/);
    await shot(page, "totp-03-wrong-code");

    // The next step's code (the enrolment spent this one; one step of drift is allowed).
    await page.fill("input[name=code]", totp(secret, Date.now() / 1000 + 30));
    await page.click(CODE_BUTTON);
    await page.waitForURL(/\/ui\/search/);
    await page.goto(`${e2e.base}/ui/account`);
    assert.match(await page.textContent("#sign-in-method"), /TOTP/);
    assert.match(await page.textContent("#second-factor"), /TOTP/);
    await shot(page, "totp-04-account");
  } finally {
    await context.close();
  }
});
