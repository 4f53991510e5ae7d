// The portal end to end, in Debian's Chromium driven by playwright-core,
// against a `riposte serve` this file starts on a free port with its own
// ledger, acting on the shared Samba AD lab.
//
//   cd tests/e2e && npm ci && node --test
//
// Needs the built binary and the lab (see harness.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Harness, fetchInPage, shot } from "./harness.mjs";

const PASSWORD = { responder: "e2e-responder-password-1", reader: "e2e-reader-password-1" };

const e2e = new Harness({
  name: "portal",
  people: [
    { name: "ada", role: "responder", password: PASSWORD.responder },
    { name: "rui", role: "reader", password: PASSWORD.reader },
  ],
  // Each directory write waits 1.5 s, so a job page opens while its job is
  // still running and must learn the outcome live, from the event stream.
  env: { RIPOSTE_FAILPOINTS: "before-write=sleep:1500" },
});
before(() => e2e.start());
after(() => e2e.stop());

/// Waits for the job page, opened while the job runs, to show the final
/// outcome: only the page's script, following the job's server-sent events,
/// turns a live page into a finished one (it reloads on the last event).
async function finalOutcome(page) {
  assert.equal(await page.getAttribute("#job", "data-live"), "true", "the job page opened while the job ran");
  await page.waitForSelector("#job-state:text-is('running')", { timeout: 30_000 });
  await page.waitForSelector("#job[data-live=false]", { timeout: 60_000 });
  return (await page.textContent("#job-outcome")).trim();
}

test("a responder disables ernie, follows it live, finds it in the Action Center, and undoes it", async () => {
  const page = await e2e.signIn("ada", PASSWORD.responder);
  try {
    await page.fill("input[name=q]", "ernie");
    await page.click("form.searchbar button");
    await page.waitForSelector("#results");
    await shot(page, "01-search");
    await page.click("#results a:text-is('corp:ernie')");
    await page.waitForSelector("#state");
    assert.match(await page.textContent("#state"), /enabled/, "the lab seeds ernie enabled");
    await shot(page, "02-identity-responder");

    await page.click("#actions a:text-is('Disable')");
    await page.waitForSelector("#what");
    assert.match(await page.textContent("#what"), /disable the account/);
    await page.fill("textarea[name=reason]", "e2e: INC-0001 credential theft");
    await shot(page, "03-confirm-disable");
    await page.click("#confirm");
    await page.waitForURL(/\/ui\/jobs\//);
    const jobId = page.url().split("/ui/jobs/")[1];
    assert.equal(await finalOutcome(page), "verified");
    assert.match(await page.textContent("#evidence"), /userAccountControl/);
    await shot(page, "04-job-verified");

    await page.goto(`${e2e.base}/ui/actions?target=corp%3Aernie`);
    const row = page.locator(`#history tr[data-job="${jobId}"]`);
    assert.equal(await row.count(), 1, "the job is in the Action Center");
    assert.match(await row.textContent(), /verified/);
    await shot(page, "05-action-center");
    const csv = await fetchInPage(page, await page.getAttribute("#csv", "href"));
    assert.equal(csv.status, 200, "the CSV export works with the session cookie");
    assert.match(csv.text, new RegExp(jobId));

    // Undo: enable ernie again through the confirmation page.
    await row.locator("a.undo").click();
    await page.waitForSelector("#what");
    assert.match(await page.textContent("#what"), /enable the account/);
    await page.fill("textarea[name=reason]", "e2e: undo the containment");
    await page.click("#confirm");
    await page.waitForURL(/\/ui\/jobs\//);
    assert.equal(await finalOutcome(page), "verified");
    await shot(page, "06-undo-verified");
  } finally {
    // Whatever happened, leave the shared lab as seeded.
    const enabled = e2e.riposte(["--json", "user", "enable", "corp:ernie", "--reason", "e2e cleanup"]);
    assert.ok(["verified", "already"].includes(JSON.parse(enabled.stdout || "{}").outcome), enabled.stderr);
    await page.context().close();
  }
});

test("a reader sees ernie's state and no action button", async () => {
  const page = await e2e.signIn("rui", PASSWORD.reader);
  try {
    await page.goto(`${e2e.base}/ui/identities/corp%3Aernie`);
    await page.waitForSelector("#state");
    assert.equal(await page.locator("#actions").count(), 0);
    assert.equal(await page.locator("a[href*='/confirm']").count(), 0);
    assert.match(await page.textContent("#no-actions"), /reader/);
    await shot(page, "07-identity-reader");
  } finally {
    await page.context().close();
  }
});

test("a forced reset on bert warns that AD would ignore it, before anything happens", async () => {
  const page = await e2e.signIn("ada", PASSWORD.responder);
  try {
    await page.goto(`${e2e.base}/ui/identities/corp%3Abert`);
    await page.click("#actions a:text-is('Force password reset')");
    await page.waitForSelector("#warning");
    assert.match(await page.textContent("#warning"), /AD would ignore it/);
    assert.match(await page.textContent("#warning"), /DONT_EXPIRE_PASSWORD/);
    assert.equal(await page.locator("#clear_blocking_flags").count(), 1, "offers to clear the flag");
    await shot(page, "08-confirm-bert-warning");
    // Not confirmed: no job was created for bert.
    const jobs = await fetchInPage(page, "/api/v1/jobs?target=corp%3Abert");
    assert.equal(jobs.status, 200);
    assert.equal(JSON.parse(jobs.text).jobs.length, 0);
  } finally {
    await page.context().close();
  }
});

test("the four seed identities show their kind and the actions their kind allows", async () => {
  const page = await e2e.signIn("ada", PASSWORD.responder);
  const cases = [
    { ref: "corp:ernie", kind: "ad-only", has: ["Disable", "Force password reset", "Unlock"], lacks: ["Revoke sessions"] },
    { ref: "bert@corp.example.test", kind: "hybrid", has: ["Disable", "Revoke sessions", "Confirm compromised"], lacks: [] },
    { ref: "contoso:bigbird@contoso.example", kind: "cloud-only", has: ["Disable", "Force password reset", "Revoke sessions"], lacks: ["Unlock", "Set new password"] },
    { ref: "contoso:google.guest_gmail.com#EXT#@contoso.example", kind: "guest", has: ["Disable", "Revoke sessions"], lacks: ["Unlock", "Set new password"] },
  ];
  try {
    for (const c of cases) {
      await page.goto(`${e2e.base}/ui/identities/${encodeURIComponent(c.ref)}`);
      await page.waitForSelector("#kind");
      assert.equal((await page.textContent("#kind")).trim(), c.kind, c.ref);
      const buttons = await page.locator("#actions a.button").allTextContents();
      for (const b of c.has) assert.ok(buttons.includes(b), `${c.ref}: no ${b} button in ${buttons}`);
      for (const b of c.lacks) assert.ok(!buttons.includes(b), `${c.ref}: a ${b} button for a ${c.kind} identity`);
      if (c.kind === "hybrid") assert.match(await page.textContent("body"), /synced from AD/);
      await shot(page, `09-identity-${c.kind}`);
    }
  } finally {
    await page.context().close();
  }
});

test("readiness shows the coverage chart per forest, Tier0 uncovered, and bert's ineffective reset; a reader cannot re-assess", async () => {
  const page = await e2e.signIn("ada", PASSWORD.responder);
  try {
    await page.goto(`${e2e.base}/ui/readiness`);
    // A responder may run an assessment now; the page comes back with its report.
    await page.click("#refresh");
    await page.waitForSelector("#generated");
    const corp = page.locator("section.readiness[data-scope=corp]");
    await corp.locator("svg.coverage-chart").waitFor();
    assert.equal(await corp.locator("svg.coverage-chart g[data-action]").count(), 5);
    const staff = corp.locator("tr[data-ou^='OU=Staff,']");
    assert.equal(await staff.locator("td.ok").count(), 5, "OU=Staff covered for every action");
    const tier0 = corp.locator("tr[data-ou^='OU=Tier0,']");
    assert.equal(await tier0.locator("td.gap").count(), 5, "OU=Tier0 covered for none");
    const ineffective = corp.locator("details[data-action=force-password-reset][data-reason=forced-reset-ineffective]");
    await ineffective.locator("summary").click();
    assert.match(await ineffective.textContent(), /CN=bert,OU=Staff/);
    assert.match(await ineffective.textContent(), /CN=oscar,OU=Staff/);
    const protectedGroup = corp.locator("details[data-action=disable][data-reason=protected-adminsdholder]");
    await protectedGroup.locator("summary").click();
    assert.match(await protectedGroup.textContent(), /CN=tier0admin,OU=Tier0/);
    assert.match(await corp.locator("ol.fixes").textContent(), /samba-tool dsacl set/); // in the (closed) details
    const csv = await fetchInPage(page, await ineffective.locator("a:text-is('CSV')").getAttribute("href"));
    assert.equal(csv.status, 200);
    assert.match(csv.text, /"bert","forced-reset-ineffective"/);
    await shot(page, "09-readiness");
  } finally {
    await page.context().close();
  }
  const reader = await e2e.signIn("rui", PASSWORD.reader);
  try {
    await reader.goto(`${e2e.base}/ui/readiness`);
    await reader.waitForSelector("section.readiness[data-scope=corp]");
    assert.equal(await reader.locator("#refresh").count(), 0, "no button a reader could not use");
  } finally {
    await reader.context().close();
  }
});
