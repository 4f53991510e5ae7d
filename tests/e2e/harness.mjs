// What every end-to-end test file here shares: the `riposte` binary and the
// lab, a private config with a ledger of the file's own, the CLI, a
// `riposte serve` on a free port, Debian's Chromium driven by playwright-core,
// signing in, screenshots, cleanup. Not a test file itself (node --test only
// runs *.test.mjs and the like here).
//
// Needs the built binary (cargo build -p riposte; $RIPOSTE_BIN or
// $CARGO_TARGET_DIR/debug/riposte or target/debug/riposte) and the lab
// (scripts/lab up; $RIPOSTE_LAB_JSON or .lab/lab.json).
//
//   const e2e = new Harness({ name: "admin", people: [{ name, role, password }] });
//   before(() => e2e.start());
//   after(() => e2e.stop());
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The riposte binary under test. */
export const bin =
  process.env.RIPOSTE_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "riposte");
/** The running lab's description (scripts/lab up writes it). */
export const labJson = process.env.RIPOSTE_LAB_JSON || path.join(repo, ".lab", "lab.json");
/** Where screenshots go (test-output/e2e/NAME.png). */
export const shots = path.join(repo, "test-output", "e2e");

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A value written as TOML (a JSON string or array of strings is valid TOML). */
export const toml = (v) => JSON.stringify(v);

/**
 * The lab's config text with `data_dir` pointing into `dir` (as
 * Lab::private_config does). With `section`, the lab's own `[section.header]`
 * table and its sub-tables are left out and `section.lines` appended instead.
 */
export function privateConfig(lab, dir, section) {
  let text = fs
    .readFileSync(lab.config, "utf8")
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("data_dir"));
  let extra = [];
  if (section) {
    const ours = new RegExp(`^\\s*\\[\\[?\\s*${section.header}(\\.|\\s*\\])`);
    let inside = false;
    text = text.filter((l) => {
      if (/^\s*\[/.test(l)) inside = ours.test(l);
      return !inside;
    });
    extra = ["", ...section.lines, ""];
  }
  const file = path.join(dir, "riposte.toml");
  fs.writeFileSync(file, [`data_dir = ${toml(path.join(dir, "data"))}`, ...text, ...extra].join("\n"));
  return file;
}

/**
 * Starts `riposte serve` on a free port with `env` added to ours, and
 * resolves once its first line says where it listens.
 */
export async function startServer(config, env = {}) {
  const child = spawn(bin, ["--config", config, "serve"], {
    env: { ...process.env, ...env, RIPOSTE_LISTEN: "127.0.0.1:0" },
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

/** Debian's Chromium ($CHROMIUM or /usr/bin/chromium), headless. */
export function launchChromium() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** A GET from inside the page, so the browser sends its own (Secure, HttpOnly) cookie. */
export async function fetchInPage(page, url) {
  return page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, text: await r.text() };
  }, url);
}

/** Saves a full-page screenshot as test-output/e2e/NAME.png. */
export async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/**
 * One test file's riposte and browser. Options:
 * - name: part of the temporary directory's name;
 * - people: local people `{ name, role, password }` added by the CLI before serving;
 * - env: extra environment for `riposte serve` (e.g. RIPOSTE_FAILPOINTS);
 * - section: `(lab) => ({ header, lines })`, a config section replacing the lab's own;
 * - context: options for every browser context (e.g. ignoreHTTPSErrors).
 * After start(): dir, config, server, base, browser. stop() cleans up
 * whatever start() got to, so it is safe after a failed start.
 */
export class Harness {
  constructor({ name, people = [], env = {}, section, context = {} } = {}) {
    this.options = { name, people, env, section, context };
  }

  /** The lab's description, read (once) from lab.json. */
  get lab() {
    if (!this._lab) {
      assert.ok(fs.existsSync(labJson), `no lab at ${labJson}: run scripts/lab up`);
      this._lab = JSON.parse(fs.readFileSync(labJson, "utf8"));
    }
    return this._lab;
  }

  /** Writes the config, adds the people, starts the server, then Chromium. */
  async start() {
    const { name, people, env, section } = this.options;
    assert.ok(fs.existsSync(bin), `no riposte binary at ${bin}: run cargo build -p riposte`);
    const lab = this.lab;
    fs.mkdirSync(shots, { recursive: true });
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), name ? `riposte-e2e-${name}-` : "riposte-e2e-"));
    this.config = privateConfig(lab, this.dir, section?.(lab));
    for (const p of people) {
      const added = this.riposte(["person", "add", "--name", p.name, "--role", p.role, "--password-stdin"], `${p.password}\n`);
      assert.equal(added.code, 0, added.stderr);
    }
    ({ child: this.server, base: this.base } = await startServer(this.config, env));
    this.browser = await launchChromium();
  }

  /** Closes the browser, stops the server, removes the temporary directory. */
  async stop() {
    await this.browser?.close();
    this.server?.kill("SIGTERM");
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs the CLI with this file's config; `input` goes to its stdin. */
  riposte(args, input) {
    const run = spawnSync(bin, ["--config", this.config, ...args], { input, encoding: "utf8" });
    return { code: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  /** A fresh browser context (no cookies), 1280x900, with the harness's context options. */
  newContext(options = {}) {
    return this.browser.newContext({ viewport: { width: 1280, height: 900 }, ...this.options.context, ...options });
  }

  /**
   * Signs a local person in through the sign-in form in a fresh context,
   * from the front page's redirect; returns the page, on the search page.
   */
  async signIn(name, password) {
    const context = await this.newContext();
    const page = await context.newPage();
    await page.goto(`${this.base}/`);
    assert.match(page.url(), /\/ui\/sign-in/);
    await page.fill("input[name=name]", name);
    await page.fill("input[name=password]", password);
    await page.click("button[type=submit]");
    await page.waitForURL(/\/ui\/search/);
    return page;
  }
}
