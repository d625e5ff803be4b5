// The operator console in chromium, against a live embedded `kiln serve`:
// an operator signs in, sees a queue with jobs, pauses it (its depth grows
// while nothing runs), resumes it, retries a dead job and sees it succeed;
// a user account is refused. Screenshots go to KILN_CONSOLE_SCREENSHOTS.
//
// Run by scripts/console/test.sh, which installs what this needs.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

const require = createRequire(join(process.env.KILN_CONSOLE_DEPS, "x.js"));
const { chromium } = require("playwright-core");

const BIN = process.env.KILN_BIN;
const SHOTS = process.env.KILN_CONSOLE_SCREENSHOTS;
const FIXTURE = readFileSync(join(process.env.KILN_ROOT, "jobs/tests/fixtures/gray_320x240.jpg"));
const PASSWORD = "a long console test password";

let server;
let base;
let dataDir;
let browser;
let receiver;
let receiverPort;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function until(what, check, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function createUser(email, role) {
  const out = spawnSync(BIN, ["user", "create", "--email", email, "--role", role, "--password-stdin"], {
    input: `${PASSWORD}\n`,
    env: { ...process.env, ...serverEnv() },
  });
  assert.equal(out.status, 0, `kiln user create ${email}: ${out.stderr}`);
}

function serverEnv() {
  return {
    KILN__DATA_DIR: dataDir,
    KILN__HTTP__INTERNAL_LISTEN: "127.0.0.1:0",
    KILN__RATE_LIMIT__ENABLED: "false",
    KILN__QUEUES__WEBHOOKS__MAX_ATTEMPTS: "1",
    KILN__WEBHOOKS__ALLOW_PRIVATE_TARGETS: "true",
    RUST_LOG: "warn",
  };
}

async function call(method, path, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await fetch(`${base}${path}`, { method, headers, body: payload });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

async function login(email) {
  const r = await fetch(`${base}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).access_token;
}

async function upload(token) {
  const form = new FormData();
  form.append("file", new Blob([FIXTURE], { type: "image/jpeg" }), "gray.jpg");
  const r = await call("POST", "/v1/media", token, form);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.job_id;
}

/** A page that fails the test on any script error or CSP violation. */
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 40[139]/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

async function signIn(page, email) {
  await page.goto(`${base}/console`);
  await page.fill("#signin input[name=email]", email);
  await page.fill("#signin input[name=password]", PASSWORD);
  await page.click("#signin button[type=submit]");
}

/** Waits for `selector`; on a timeout, fails with what the page shows. */
async function expectShown(page, selector, timeout = 30_000) {
  try {
    await page.waitForSelector(selector, { timeout });
  } catch (e) {
    const shown = await page.textContent("#page").catch(() => "?");
    const said = await page.textContent("#status").catch(() => "?");
    throw new Error(`${selector} not shown: ${e.message}\npage: ${shown}\nstatus: ${said}`);
  }
}

const cell = (page, queue, col) => page.textContent(`tr[data-queue=${queue}] [data-col=${col}]`);

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "kiln-console-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ["serve"], {
    env: { ...process.env, ...serverEnv(), KILN__HTTP__LISTEN: `127.0.0.1:${port}` },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await until("kiln serve", async () => (await fetch(`${base}/health/ready`).catch(() => null))?.ok);
  createUser("ops@example.com", "operator");
  createUser("ada@example.com", "user");
  browser = await chromium.launch({ executablePath: process.env.KILN_CHROMIUM, args: ["--no-sandbox"] });
  receiverPort = await freePort();
});

after(async () => {
  await browser?.close();
  receiver?.close();
  server?.kill("SIGTERM");
  if (server) await new Promise((r) => server.once("exit", r));
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("a user account is refused and keeps no token", async () => {
  const page = await newPage();
  await signIn(page, "ada@example.com");
  await page.waitForSelector("#signin-error:text('operators and administrators')");
  assert.equal(await page.isHidden("#nav"), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.equal(await page.evaluate(() => document.cookie), "");
  await page.screenshot({ path: join(SHOTS, "refused.png") });
  assert.deepEqual(page.problems, []);
});

test("an operator pauses a queue, its depth grows while nothing runs, and resumes it", async () => {
  const page = await newPage();
  await signIn(page, "ops@example.com");
  await page.waitForSelector("tr[data-queue=media]");
  // The token is in sessionStorage, not in a cookie.
  assert.ok(await page.evaluate(() => sessionStorage.getItem("kiln.console.tokens")));
  assert.equal(await page.evaluate(() => document.cookie), "");

  const ada = await login("ada@example.com");
  const first = await upload(ada);
  await until("the first upload to be processed", async () => (await call("GET", `/v1/jobs/${first}`, ada)).body.status === "succeeded");

  await page.click("tr[data-queue=media] button:text('Pause')");
  await expectShown(page, "tr[data-queue=media] [data-col=state]:has-text('paused')");
  // Every worker sees a pause within a second (this process's own at once).
  await new Promise((r) => setTimeout(r, 1000));
  const jobs = [];
  for (let i = 0; i < 3; i++) jobs.push(await upload(ada));
  // The page refreshes by itself: the queue's ready count reaches 3.
  await until("the console to show 3 ready media jobs", async () => Number(await cell(page, "media", "ready")) >= 3).catch(async (e) => {
    const row = await page.textContent("tr[data-queue=media]");
    const states = [];
    for (const id of jobs) states.push((await call("GET", `/v1/jobs/${id}`, ada)).body.status);
    throw new Error(`${e.message}; the row shows ${row}; the jobs are ${states}`);
  });
  await new Promise((r) => setTimeout(r, 1500));
  for (const id of jobs) assert.equal((await call("GET", `/v1/jobs/${id}`, ada)).body.status, "queued", "nothing runs while paused");
  await page.screenshot({ path: join(SHOTS, "queues-paused.png") });

  await page.click("tr[data-queue=media] button:text('Resume')");
  await expectShown(page, "tr[data-queue=media] [data-col=state]:has-text('running')");
  for (const id of jobs) {
    await until(`job ${id} to succeed after the resume`, async () => (await call("GET", `/v1/jobs/${id}`, ada)).body.status === "succeeded");
  }
  await until("the console to show the media queue drained", async () => Number(await cell(page, "media", "ready")) === 0);
  // The last hour's sparkline counts the four uploads once the workers have
  // reported them (every 5 s).
  await until("the last hour to count 4 media jobs", async () => Number(await page.getAttribute("tr[data-queue=media] [data-col=throughput]", "data-total")) === 4);
  await page.screenshot({ path: join(SHOTS, "queues.png") });
  assert.deepEqual(page.problems, []);
});

test("an operator retries a dead job and sees it succeed", async () => {
  const ada = await login("ada@example.com");
  // A webhook to a port nobody listens on yet: its test delivery fails, and
  // with one attempt allowed it is dead at once.
  const hook = await call("POST", "/v1/webhooks", ada, { url: `http://127.0.0.1:${receiverPort}/hook`, events: ["job.succeeded"] });
  assert.equal(hook.status, 201, JSON.stringify(hook.body));
  const sent = await call("POST", `/v1/webhooks/${hook.body.id}/test`, ada);
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const ops = await login("ops@example.com");
  const dead = await until("a dead webhook delivery", async () => (await call("GET", "/v1/queues/webhooks/dead", ops)).body.items[0]);

  const page = await newPage();
  await signIn(page, "ops@example.com");
  await page.waitForSelector("tr[data-queue=webhooks]");
  await page.goto(`${base}/console#/dead?queue=webhooks`);
  await page.waitForSelector(`tr[data-job='${dead.id}']`);
  await page.screenshot({ path: join(SHOTS, "dead.png") });

  // Now the receiver answers, and the retry goes through.
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(204).end());
  });
  await new Promise((r) => receiver.listen(receiverPort, "127.0.0.1", r));
  await page.click(`tr[data-job='${dead.id}'] button:text('Retry')`);
  await page.goto(`${base}/console#/jobs?id=${dead.id}`);
  await page.waitForSelector("[data-col=status]:text('succeeded')", { timeout: 30_000 });
  await page.screenshot({ path: join(SHOTS, "job.png") });
  assert.deepEqual(page.problems, []);
});

test("the console works at phone width and in dark mode", async () => {
  const page = await newPage({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  await signIn(page, "ops@example.com");
  await page.waitForSelector("tr[data-queue=media]");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(22, 22, 24)", "the dark palette applies");
  await page.screenshot({ path: join(SHOTS, "phone-dark.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
});

test("the backups page lists backups and schedules and runs a backup on request", async () => {
  const ops = await login("ops@example.com");
  const schedule = await call("POST", "/v1/backup-schedules", ops, { name: "nightly", cron: "0 3 * * *", timezone: "UTC" });
  assert.equal(schedule.status, 201, JSON.stringify(schedule.body));
  const page = await newPage();
  page.on("dialog", (d) => d.accept());
  await signIn(page, "ops@example.com");
  await page.waitForSelector("tr[data-queue=media]");
  await page.goto(`${base}/console#/backups`);
  await page.waitForSelector(`tr[data-schedule='${schedule.body.id}']`);
  await page.click("button:text('Run a backup now')");
  await until("a backup row", async () => (await page.$$("tr[data-backup]")).length > 0);
  // The page refreshes until the backup it started has succeeded.
  await expectShown(page, "tr[data-backup] .badge:text('succeeded')");
  await page.screenshot({ path: join(SHOTS, "backups.png") });
  assert.deepEqual(page.problems, []);
});
