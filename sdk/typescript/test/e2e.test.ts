// End-to-end tests of the TypeScript SDK against a live, embedded `kiln serve`
// (SQLite, local storage, mail to the outbox), started on a free port.
import assert from "node:assert/strict";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";

import {
  createKilnClient,
  KilnError,
  multipart,
  unwrap,
  type KilnClient,
  type Media,
  type Session,
} from "../src/index.js";
import { fixture, startServer, type Server } from "./harness.js";
import { imageInfo } from "./image.js";

const TIMEOUT = { timeout: 120_000 };
const PHOTO = fixture("photo_1200x900.jpg");
const PASSWORD = "correct horse battery staple";

let server: Server;
// What the earlier tests made, for the later ones (each says when it is missing).
let alice: { email: string; client: KilnClient; session: Session } | undefined;
let upload: { mediaId: string; jobId: string } | undefined;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

function client(): KilnClient {
  return createKilnClient({ baseUrl: server.baseUrl });
}

function uniqueEmail(who: string): string {
  return `${who}-${randomUUID().slice(0, 8)}@example.com`;
}

function needAlice() {
  if (!alice) throw new Error("needs the user from 'register a user and log in', which failed");
  return alice;
}

function needUpload() {
  if (!upload) throw new Error("needs the media from 'upload a real JPEG', which failed");
  return upload;
}

/** Runs `call`, which must throw a KilnError, and returns that error. */
async function kilnError(call: () => Promise<unknown>): Promise<KilnError> {
  try {
    await call();
  } catch (error) {
    if (error instanceof KilnError) return error;
    throw error;
  }
  assert.fail("expected a KilnError, but the call succeeded");
}

async function registerAndLogin(who: string) {
  const email = uniqueEmail(who);
  const kiln = client();
  const user = await unwrap(kiln.POST("/v1/auth/register", { body: { email, password: PASSWORD } }));
  const session = await kiln.login(email, PASSWORD);
  return { email, user, client: kiln, session };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("embedded sqlite: register a user and log in", TIMEOUT, async () => {
  const { email, user, client: kiln, session } = await registerAndLogin("alice");
  assert.equal(user.email, email);
  assert.equal(user.role, "user");
  assert.equal(session.token_type, "Bearer");
  assert.ok(session.expires_in > 0, "the access token has a lifetime");
  assert.match(session.refresh_token, /^kiln_rt_/);
  assert.equal(session.user.id, user.id);
  assert.deepEqual(kiln.tokens, { accessToken: session.access_token, refreshToken: session.refresh_token });

  // The client now sends the bearer token by itself.
  const me = await unwrap(kiln.GET("/v1/me"));
  assert.equal(me.id, user.id);
  assert.equal(me.email, email);

  // Without credentials the same call is a 401.
  const error = await kilnError(() => unwrap(client().GET("/v1/me")));
  assert.equal(error.status, 401);
  assert.equal(error.code, "unauthorized");

  alice = { email, client: kiln, session };
});

test("embedded sqlite: refresh rotates the tokens and a used refresh token is refused", TIMEOUT, async () => {
  const { client: kiln, session } = await registerAndLogin("rotate");
  const rotated = await kiln.refresh();
  assert.notEqual(rotated.refresh_token, session.refresh_token);
  assert.notEqual(rotated.access_token, session.access_token);
  assert.equal(kiln.tokens?.refreshToken, rotated.refresh_token);
  assert.equal((await unwrap(kiln.GET("/v1/me"))).id, session.user.id);

  // The first refresh token was used up: presenting it again is reuse.
  const reuse = await kilnError(() =>
    unwrap(client().POST("/v1/auth/refresh", { body: { refresh_token: session.refresh_token } })),
  );
  assert.equal(reuse.status, 401);
  assert.equal(reuse.code, "invalid_refresh_token");
  assert.ok(reuse.requestId, "the error carries a request id");

  // Reuse revokes the whole family, so the client's own refresh fails and it drops the session.
  const revoked = await kilnError(() => kiln.refresh());
  assert.equal(revoked.code, "invalid_refresh_token");
  assert.equal(kiln.tokens, null);
});

test("embedded sqlite: a 401 is refreshed once for concurrent requests, which are retried", TIMEOUT, async () => {
  const email = uniqueEmail("refresh");
  let refreshes = 0;
  const kiln = createKilnClient({
    baseUrl: server.baseUrl,
    fetch: (request) => {
      if (new URL(request.url).pathname === "/v1/auth/refresh") refreshes += 1;
      return fetch(request);
    },
  });
  await unwrap(kiln.POST("/v1/auth/register", { body: { email, password: PASSWORD } }));
  const session = await kiln.login(email, PASSWORD);

  // An access token the server rejects (as it would an expired one) beside a good refresh token.
  kiln.setTokens({ accessToken: "not-a-valid-token", refreshToken: session.refresh_token });
  const answers = await Promise.all(Array.from({ length: 5 }, () => unwrap(kiln.GET("/v1/me"))));
  for (const me of answers) assert.equal(me.email, email);
  // One refresh for all five: a second one with the same single-use token would
  // have been taken for reuse and revoked the session.
  assert.equal(refreshes, 1);
  assert.notEqual(kiln.tokens?.refreshToken, session.refresh_token);
  assert.notEqual(kiln.tokens?.accessToken, "not-a-valid-token");

  // The rotated session still works, with a body-carrying request retried too.
  kiln.setTokens({ accessToken: "not-a-valid-token-either", refreshToken: kiln.tokens?.refreshToken ?? "" });
  const key = await unwrap(kiln.POST("/v1/api-keys", { body: { name: "after refresh", scopes: ["jobs:read"] } }));
  assert.equal(key.name, "after refresh");
  assert.equal(refreshes, 2);
});

test("embedded sqlite: upload a real JPEG (multipart)", TIMEOUT, async () => {
  const { client: kiln } = needAlice();
  const bytes = readFileSync(PHOTO);
  const file = new File([bytes], basename(PHOTO), { type: "image/jpeg" });
  const { data, error, response } = await kiln.POST("/v1/media", { body: { file }, bodySerializer: multipart });
  if (error !== undefined) throw KilnError.fromResponse(response, error);
  assert.equal(response.status, 202);
  assert.equal(data.status, "processing");
  assert.match(data.media_id, /^[0-9a-f-]{36}$/);
  assert.equal(response.headers.get("location"), `/v1/media/${data.media_id}`);

  const media = await unwrap(kiln.GET("/v1/media/{id}", { params: { path: { id: data.media_id } } }));
  assert.equal(media.job_id, data.job_id);
  assert.equal(media.filename, basename(PHOTO));
  assert.equal(media.source_format, "jpeg");
  assert.equal(media.source_bytes, bytes.length);
  upload = { mediaId: data.media_id, jobId: data.job_id };
});

test("embedded sqlite: poll the image job until it succeeds", TIMEOUT, async () => {
  const { client: kiln } = needAlice();
  const { jobId } = needUpload();
  const job = await kiln.waitForJob(jobId, { timeoutMs: 90_000 });
  assert.equal(job.id, jobId);
  assert.equal(job.status, "succeeded");
  assert.equal(job.kind, "image.process");
  assert.equal(job.progress, 100);
  assert.ok(job.finished_at, "a finished job has finished_at");
  assert.ok(job.attempts >= 1);
});

test("embedded sqlite: list the variants and download them, checking their pixel sizes", TIMEOUT, async () => {
  const { client: kiln } = needAlice();
  const { mediaId } = needUpload();
  const source = imageInfo(readFileSync(PHOTO));
  const media: Media = await until("the media to be ready", 60_000, async () => {
    const m = await unwrap(kiln.GET("/v1/media/{id}", { params: { path: { id: mediaId } } }));
    return m.status === "processing" ? undefined : m;
  });
  assert.equal(media.status, "ready", `media ended ${media.status}: ${media.error ?? ""}`);
  assert.equal(media.width, source.width);
  assert.equal(media.height, source.height);
  assert.ok(media.variants.length > 0, "a ready media lists its variants");
  const formats = new Set(media.variants.map((v) => v.format));
  assert.deepEqual([...formats].sort(), ["jpeg", "webp"]);

  for (const variant of media.variants) {
    const { data, error, response } = await kiln.GET("/v1/media/{id}/variants/{name}", {
      params: { path: { id: mediaId, name: variant.name } },
      parseAs: "arrayBuffer",
    });
    if (error !== undefined) throw KilnError.fromResponse(response, error);
    const bytes = new Uint8Array(data);
    assert.equal(response.headers.get("content-type"), variant.content_type);
    assert.equal(bytes.length, variant.bytes, `${variant.name}: size`);
    const info = imageInfo(bytes);
    assert.equal(info.format, variant.format, `${variant.name}: format`);
    assert.equal(info.width, variant.width, `${variant.name}: width`);
    assert.equal(info.height, variant.height, `${variant.name}: height`);
    // Scaled down (never up) with the source's aspect ratio, to within a pixel.
    assert.ok(info.width <= source.width && info.height <= source.height, `${variant.name}: not upscaled`);
    assert.ok(
      Math.abs(info.width * source.height - info.height * source.width) <= Math.max(source.width, source.height),
      `${variant.name}: ${info.width}x${info.height} keeps ${source.width}x${source.height}'s aspect ratio`,
    );

    // The strong ETag makes a conditional download a 304.
    const etag = response.headers.get("etag");
    assert.ok(etag, `${variant.name}: has an ETag`);
    const again = await kiln.GET("/v1/media/{id}/variants/{name}", {
      params: { path: { id: mediaId, name: variant.name }, header: { "If-None-Match": etag } },
      parseAs: "arrayBuffer",
    });
    assert.equal(again.response.status, 304, `${variant.name}: If-None-Match`);
  }
});

test("embedded sqlite: an API key works within its scopes and gets 403 outside them", TIMEOUT, async () => {
  const { client: kiln } = needAlice();
  const { jobId } = needUpload();
  const created = await unwrap(
    kiln.POST("/v1/api-keys", { body: { name: "sdk reader", scopes: ["jobs:read", "media:read"] } }),
  );
  assert.ok(created.key.startsWith(created.prefix), "the key starts with its visible prefix");
  assert.deepEqual([...created.scopes].sort(), ["jobs:read", "media:read"]);

  const reader = createKilnClient({ baseUrl: server.baseUrl, apiKey: created.key });
  const jobs = await unwrap(reader.GET("/v1/jobs", { params: { query: { kind: "image.process", limit: 10 } } }));
  assert.ok(
    jobs.items.some((job) => job.id === jobId),
    "the key sees its owner's jobs",
  );
  const job = await unwrap(reader.GET("/v1/jobs/{id}", { params: { path: { id: jobId } } }));
  assert.equal(job.id, jobId);

  // media:write is not among its scopes.
  const file = new File([readFileSync(PHOTO)], basename(PHOTO), { type: "image/jpeg" });
  const denied = await kilnError(() => unwrap(reader.POST("/v1/media", { body: { file }, bodySerializer: multipart })));
  assert.equal(denied.status, 403);
  assert.equal(denied.code, "insufficient_scope");
  assert.ok(denied.requestId);

  const keys = await unwrap(kiln.GET("/v1/api-keys"));
  const listed = keys.items.find((k) => k.id === created.id);
  assert.ok(listed, "the key is listed");
  assert.equal(listed.prefix, created.prefix);
  assert.equal("key" in listed, false, "a listed key does not show the key");
});

test("embedded sqlite: a 422 and a 404 come back as typed KilnErrors", TIMEOUT, async () => {
  const { client: kiln } = needAlice();
  const requestId = `sdk-ts-${randomUUID()}`;
  const weak = await kilnError(() =>
    unwrap(
      client().POST("/v1/auth/register", {
        body: { email: uniqueEmail("weak"), password: "aaaaaaaaaaaaaaaa" },
        headers: { "x-request-id": requestId },
      }),
    ),
  );
  assert.equal(weak.status, 422);
  assert.equal(weak.code, "validation_failed");
  assert.equal(weak.requestId, requestId, "the server reuses the client's x-request-id");
  assert.ok(weak.message.length > 0);
  assert.ok(weak instanceof Error);

  const missing = randomUUID();
  const notFound = await kilnError(() => unwrap(kiln.GET("/v1/jobs/{id}", { params: { path: { id: missing } } })));
  assert.equal(notFound.status, 404);
  assert.equal(notFound.code, "not_found");
  assert.ok(notFound.requestId, "a 404 carries a request id");
  assert.notEqual(notFound.requestId, requestId);
});

test("embedded sqlite: an operator sends a notification, mailed to the outbox", TIMEOUT, async () => {
  const { email, session } = needAlice();
  const opsEmail = uniqueEmail("ops");
  await server.createUser(opsEmail, "operator", PASSWORD);
  const ops = client();
  const opsSession = await ops.login(opsEmail, PASSWORD);
  assert.equal(opsSession.user.role, "operator");

  const body = { user_id: session.user.id, channels: ["email" as const], template: "welcome" as const };
  const idempotencyKey = `welcome-${randomUUID()}`;
  const { data, error, response } = await ops.POST("/v1/notifications", {
    body,
    params: { header: { "Idempotency-Key": idempotencyKey } },
  });
  if (error !== undefined) throw KilnError.fromResponse(response, error);
  assert.equal(response.status, 202);
  assert.equal(data.items.length, 1);
  const delivery = data.items[0];
  assert.ok(delivery);
  assert.equal(delivery.channel, "email");
  assert.equal(delivery.user_id, session.user.id);
  assert.ok(delivery.job_id, "the delivery has its job");

  const job = await ops.waitForJob(delivery.job_id, { timeoutMs: 60_000 });
  assert.equal(job.kind, "email.send");

  // The same key again: the first request's deliveries, nothing new queued.
  const repeat = await ops.POST("/v1/notifications", { body, params: { header: { "Idempotency-Key": idempotencyKey } } });
  assert.equal(repeat.response.status, 200);
  assert.deepEqual(
    repeat.data?.items.map((d) => d.id),
    [delivery.id],
  );

  // The recipient's history shows it recorded (embedded mode: no SMTP), and the outbox holds the mail.
  const history = await unwrap(needAlice().client.GET("/v1/notifications"));
  const row = history.items.find((n) => n.id === delivery.id);
  assert.ok(row, "the recipient's history lists the delivery");
  assert.equal(row.status, "recorded");
  const outbox = join(server.dataDir, "outbox");
  const mails = readdirSync(outbox).filter((name) => name.endsWith(".eml"));
  assert.ok(
    mails.some((name) => readFileSync(join(outbox, name), "utf8").includes(email)),
    `an .eml in ${outbox} is addressed to ${email}`,
  );

  // A plain user may not send notifications.
  const denied = await kilnError(() => unwrap(needAlice().client.POST("/v1/notifications", { body })));
  assert.equal(denied.status, 403);
  assert.equal(denied.code, "forbidden");
});

test("embedded sqlite: create a webhook endpoint, send a test event and read its delivery log", TIMEOUT, async () => {
  const { client: kiln } = needAlice();
  const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200, { "content-type": "text/plain" }).end("thanks");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = receiver.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/kiln`;
    const endpoint = await unwrap(
      kiln.POST("/v1/webhooks", { body: { url, events: ["job.succeeded", "media.ready"], description: "sdk test" } }),
    );
    assert.equal(endpoint.url, url);
    assert.equal(endpoint.enabled, true);
    assert.match(endpoint.secret, /^whsec_/);

    const queued = await unwrap(kiln.POST("/v1/webhooks/{id}/test", { params: { path: { id: endpoint.id } } }));
    const delivered = await until("the test delivery to be delivered", 60_000, async () => {
      const page = await unwrap(
        kiln.GET("/v1/webhooks/{id}/deliveries", { params: { path: { id: endpoint.id }, query: { limit: 50 } } }),
      );
      const row = page.items.find((d) => d.id === queued.delivery_id);
      if (row && row.status !== "pending" && row.status !== "retrying") return row;
      return undefined;
    });
    assert.equal(delivered.status, "delivered", `delivery ended ${delivered.status}: ${delivered.error ?? ""}`);
    assert.equal(delivered.event_type, "webhook.test");
    assert.equal(delivered.response_status, 200);
    assert.equal(delivered.response_body, "thanks");
    assert.ok(delivered.attempts >= 1);
    assert.ok(delivered.delivered_at);
    assert.equal(delivered.job_id, queued.job_id);

    // The receiver got it, signed per Standard Webhooks with the endpoint's secret.
    const request = received.find((r) => r.headers["webhook-id"] === delivered.message_id);
    assert.ok(request, "the receiver got the delivery's webhook-id");
    const id = String(request.headers["webhook-id"]);
    const timestamp = String(request.headers["webhook-timestamp"]);
    const key = Buffer.from(endpoint.secret.slice("whsec_".length), "base64");
    const expected = Buffer.from(
      createHmac("sha256", key).update(`${id}.${timestamp}.`).update(request.body).digest("base64"),
    );
    const signatures = String(request.headers["webhook-signature"]).split(" ");
    assert.ok(
      signatures.some((s) => s.startsWith("v1,") && Buffer.from(s.slice(3)).length === expected.length && timingSafeEqual(Buffer.from(s.slice(3)), expected)),
      "a v1 signature matches",
    );
    assert.deepEqual(JSON.parse(request.body.toString("utf8")), delivered.payload);
  } finally {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});
