// The admin page end to end, in Debian's Chromium driven by playwright-core,
// against a `riposte serve` this file starts on a free port with its own
// ledger: an admin revokes another person's session from /ui/admin/people,
// and a reader is refused the page.
//
//   cd tests/e2e && npm ci && node --test
//
// Needs the built binary (cargo build -p riposte; $RIPOSTE_BIN or
// $CARGO_TARGET_DIR/debug/riposte or target/debug/riposte) and the lab
// (scripts/lab up; $RIPOSTE_LAB_JSON or .lab/lab.json).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin =
  process.env.RIPOSTE_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "riposte");
const labJson = process.env.RIPOSTE_LAB_JSON || path.join(repo, ".lab", "lab.json");
const shots = path.join(repo, "test-output", "e2e");
const PASSWORD = "e2e-admin-page-password-1";

let dir, config, server, base, browser;

/// The lab's config with a ledger of our own (as Lab::private_config does).
function privateConfig() {
  const lab = JSON.parse(fs.readFileSync(labJson, "utf8"));
  const text = fs
    .readFileSync(lab.config, "utf8")
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("data_dir"));
  const file = path.join(dir, "riposte.toml");
  fs.writeFileSync(file, [`data_dir = ${JSON.stringify(path.join(dir, "data"))}`, ...text].join("\n"));
  return file;
}

function riposte(args, input) {
  const run = spawnSync(bin, ["--config", config, ...args], { input, encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function startServer() {
  const child = spawn(bin, ["--config", config, "serve"], {
    env: { ...process.env, RIPOSTE_LISTEN: "127.0.0.1:0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`riposte serve exited with ${code}`)));
  });
  const match = /http:\/\/(127\.0\.0\.1:\d+)/.exec(first);
  assert.ok(match, `unexpected first line: ${first}`);
  return { child, base: `http://${match[1]}` };
}

before(async () => {
  assert.ok(fs.existsSync(bin), `no riposte binary at ${bin}: run cargo build -p riposte`);
  assert.ok(fs.existsSync(labJson), `no lab at ${labJson}: run scripts/lab up`);
  fs.mkdirSync(shots, { recursive: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "riposte-e2e-admin-"));
  config = privateConfig();
  for (const [name, role] of [["adam", "admin"], ["dora", "responder"], ["rui", "reader"]]) {
    const added = riposte(["person", "add", "--name", name, "--role", role, "--password-stdin"], `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
  }
  ({ child: server, base } = await startServer());
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function signIn(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/ui\/sign-in/);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/ui\/search/);
  return page;
}

test("an admin revokes another person's session from the People page, and that person's next page is the sign-in", async () => {
  const dora = await signIn("dora");
  const adam = await signIn("adam");
  try {
    assert.equal((await adam.textContent("#signed-in-how")).trim(), "local, no second factor");
    await adam.click("#nav-people");
    await adam.waitForURL(/\/ui\/admin\/people$/);
    const row = adam.locator("#sessions tr[data-person=dora]");
    assert.equal(await row.count(), 1, "dora's one session is listed");
    await adam.screenshot({ path: path.join(shots, "admin-01-people.png"), fullPage: true });
    await row.locator("button:text-is('Revoke')").click();
    await adam.waitForURL(/\/ui\/admin\/people$/);
    assert.equal(await adam.locator("#sessions tr[data-person=dora]").count(), 0, "her session is gone from the list");
    assert.equal(await adam.locator("#sessions tr[data-person=adam]").count(), 1, "the admin's own is still there");

    await dora.goto(`${base}/ui/search`);
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
    const response = await rui.goto(`${base}/ui/admin/people`);
    assert.equal(response.status(), 403);
    assert.match(await rui.textContent("h1"), /Not permitted/);
    assert.match(await rui.textContent("main"), /the admin role/);
  } finally {
    await rui.context().close();
  }
});
