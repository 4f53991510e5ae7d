// The admin page end to end, in Debian's Chromium driven by playwright-core,
// against a `riposte serve` this file starts on a free port with its own
// ledger: an admin revokes another person's session from /ui/admin/people,
// and a reader is refused the page.
//
//   cd tests/e2e && npm ci && node --test
//
// Needs the built binary and the lab (see harness.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Harness, shot } from "./harness.mjs";

const PASSWORD = "e2e-admin-page-password-1";

const e2e = new Harness({
  name: "admin",
  people: [
    { name: "adam", role: "admin", password: PASSWORD },
    { name: "dora", role: "responder", password: PASSWORD },
    { name: "rui", role: "reader", password: PASSWORD },
  ],
});
before(() => e2e.start());
after(() => e2e.stop());

const signIn = (name) => e2e.signIn(name, PASSWORD);

test("an admin revokes another person's session from the People page, and that person's next page is the sign-in", async () => {
  const dora = await signIn("dora");
  const adam = await signIn("adam");
  try {
    assert.equal((await adam.textContent("#signed-in-how")).trim(), "local, no second factor");
    await adam.click("#nav-people");
    await adam.waitForURL(/\/ui\/admin\/people$/);
    const row = adam.locator("#sessions tr[data-person=dora]");
    assert.equal(await row.count(), 1, "dora's one session is listed");
    await shot(adam, "admin-01-people");
    await row.locator("button:text-is('Revoke')").click();
    await adam.waitForURL(/\/ui\/admin\/people$/);
    assert.equal(await adam.locator("#sessions tr[data-person=dora]").count(), 0, "her session is gone from the list");
    assert.equal(await adam.locator("#sessions tr[data-person=adam]").count(), 1, "the admin's own is still there");

    await dora.goto(`${e2e.base}/ui/search`);
    assert.match(dora.url(), /\/ui\/sign-in/, "dora's next page load goes to sign-in");
  } finally {
    await dora.context().close();
    await adam.context().close();
  }
});

test("a reader is refused the People page and is not offered it", async () => {
  const rui = await signIn("rui");
  try {
    assert.equal(await rui.locator("#nav-people").count(), 0);
    assert.equal((await rui.textContent("#signed-in-how")).trim(), "local, no second factor");
    const response = await rui.goto(`${e2e.base}/ui/admin/people`);
    assert.equal(response.status(), 403);
    assert.match(await rui.textContent("h1"), /Not permitted/);
    assert.match(await rui.textContent("main"), /the admin role/);
  } finally {
    await rui.context().close();
  }
});
