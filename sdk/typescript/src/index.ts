// The hand-written part of the Kiln TypeScript SDK. Everything about the API
// itself (paths, parameters, bodies, answers) is in the generated
// ./schema.d.ts and is called through openapi-fetch; this file adds only what
// the document cannot say:
//
//   - credentials: a bearer session that refreshes itself once on a 401
//     (single flight: refresh tokens are single use and rotate) and retries the
//     request, or an API key in `X-API-Key`;
//   - KilnError and unwrap(): the one error body `{code, message, request_id,
//     details?}` as a thrown, typed error;
//   - waitForJob(): polling a job until it finishes, with backoff.
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

type Schemas = components["schemas"];
export type ErrorBody = Schemas["ErrorBody"];
export type Job = Schemas["JobOut"];
export type JobStatus = Schemas["JobStatus"];
export type Session = Schemas["TokenOut"];
export type User = Schemas["UserOut"];
export type Media = Schemas["MediaOut"];
export type Variant = Schemas["VariantOut"];

/** An error answer from Kiln (or an answer that is not one of its error bodies). */
export class KilnError extends Error {
  override readonly name = "KilnError";
  /** The HTTP status. */
  readonly status: number;
  /** Kiln's stable error code, e.g. `not_found`; `unexpected_response` when the body was not an error body. */
  readonly code: string;
  /** The request id (also in the server's logs); from the body, else the `x-request-id` header. */
  readonly requestId: string;
  /** Structured details, when the server sent any. */
  readonly details: unknown;

  constructor(status: number, code: string, message: string, requestId: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
  }

  /** Builds the error from a failed answer and its parsed body (openapi-fetch's `error`). */
  static fromResponse(response: Response, body: unknown): KilnError {
    if (isErrorBody(body)) {
      return new KilnError(response.status, body.code, body.message, body.request_id, body.details);
    }
    const text = typeof body === "string" ? body.slice(0, 200) : "";
    return new KilnError(
      response.status,
      "unexpected_response",
      `HTTP ${response.status} ${response.statusText}${text ? `: ${text}` : ""}`.trim(),
      response.headers.get("x-request-id") ?? "",
    );
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b["code"] === "string" && typeof b["message"] === "string" && typeof b["request_id"] === "string";
}

// What a successful call of an openapi-fetch result type carries: its `data`
// (undefined for answers without a body, such as 204).
type DataOf<R> = R extends { data: infer D } ? D : never;
export type SuccessData<R> = [DataOf<R>] extends [never] ? undefined : DataOf<R>;

/**
 * Turns openapi-fetch's `{data, error, response}` into the data, or throws a
 * KilnError for any answer that is not 2xx.
 */
export async function unwrap<R extends { error?: unknown; response: Response }>(
  call: Promise<R> | R,
): Promise<SuccessData<R>> {
  const result = await call;
  if (!result.response.ok) throw KilnError.fromResponse(result.response, result.error);
  return (result as { data?: unknown }).data as SuccessData<R>;
}

/**
 * A `bodySerializer` for multipart operations (`POST /v1/media`): each field
 * becomes a form field; a File keeps its name.
 */
export function multipart(body: Record<string, string | Blob>): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(body)) form.append(name, value);
  return form;
}

/** The job ended `failed`, `dead` or `cancelled` while waitForJob was waiting for `succeeded`. */
export class JobFailedError extends Error {
  override readonly name = "JobFailedError";
  constructor(readonly job: Job) {
    super(`job ${job.id} (${job.kind}) ended ${job.status}: ${job.last_error ?? "no error recorded"}`);
  }
}

/** waitForJob's time ran out; `job` is the last state seen. */
export class JobTimeoutError extends Error {
  override readonly name = "JobTimeoutError";
  constructor(
    readonly job: Job,
    readonly timeoutMs: number,
  ) {
    super(`job ${job.id} (${job.kind}) is still ${job.status} after ${timeoutMs} ms`);
  }
}

export interface WaitForJobOptions {
  /** Give up after this long (default 60 000 ms). */
  timeoutMs?: number;
  /** First pause between polls (default 100 ms); it doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Longest pause between polls (default 2 000 ms). */
  maxDelayMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export interface KilnClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The server, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Authenticate with this API key (`X-API-Key`) instead of a bearer session. */
  apiKey?: string;
  /** A session to resume (from an earlier login). */
  tokens?: Tokens;
  /** Called with the new pair after every login and refresh, and with null when the session ends. */
  onTokens?: (tokens: Tokens | null) => void;
}

export interface KilnExtras {
  /** The current session's tokens, or null. */
  readonly tokens: Tokens | null;
  /** Replaces the session (null ends it locally). */
  setTokens(tokens: Tokens | null): void;
  /** `POST /v1/auth/login`; keeps the tokens for later calls. */
  login(email: string, password: string): Promise<Session>;
  /**
   * `POST /v1/auth/refresh` with the held refresh token; concurrent callers
   * share one request. On `invalid_refresh_token` the session is dropped.
   */
  refresh(): Promise<Session>;
  /** `POST /v1/auth/logout`: this session, or every session of the user. */
  logout(options?: { allSessions?: boolean }): Promise<void>;
  /** Polls `GET /v1/jobs/{id}` until the job succeeds (resolves) or ends otherwise (rejects). */
  waitForJob(id: string, options?: WaitForJobOptions): Promise<Job>;
}

/** An openapi-fetch client for Kiln's paths, with credentials and the helpers above. */
export type KilnClient = Client<paths> & KilnExtras;

// Operations that take no credentials: nothing is added to them, and a 401
// from them is an answer, not an expired token.
const PUBLIC_PATHS: ReadonlySet<string> = new Set([
  "/v1/auth/register",
  "/v1/auth/login",
  "/v1/auth/refresh",
  "/health/live",
  "/health/ready",
]);

export function createKilnClient(options: KilnClientOptions): KilnClient {
  const { apiKey, tokens: initial, onTokens, ...clientOptions } = options;
  const client = createClient<paths>(clientOptions);
  let tokens: Tokens | null = initial ?? null;
  let refreshing: Promise<Session> | null = null;

  const setTokens = (next: Tokens | null): void => {
    tokens = next;
    onTokens?.(next);
  };
  const adopt = (session: Session): Session => {
    setTokens({ accessToken: session.access_token, refreshToken: session.refresh_token });
    return session;
  };

  const refresh = (): Promise<Session> => {
    refreshing ??= (async () => {
      const held = tokens;
      if (!held) throw new Error("no session to refresh: log in first");
      try {
        return adopt(await unwrap(client.POST("/v1/auth/refresh", { body: { refresh_token: held.refreshToken } })));
      } catch (error) {
        // The token is spent or revoked: this session is over.
        if (error instanceof KilnError && error.status === 401 && tokens === held) setTokens(null);
        throw error;
      }
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  };

  // Per request sent with the bearer token: the token it carried and an
  // unread copy to send again after a refresh.
  const sent = new WeakMap<Request, { token: string; retry: Request }>();

  const credentials: Middleware = {
    onRequest({ request, schemaPath }) {
      if (PUBLIC_PATHS.has(schemaPath)) return undefined;
      if (request.headers.has("authorization") || request.headers.has("x-api-key")) return undefined;
      if (apiKey !== undefined) {
        request.headers.set("X-API-Key", apiKey);
        return undefined;
      }
      if (!tokens) return undefined; // the server answers 401
      request.headers.set("Authorization", `Bearer ${tokens.accessToken}`);
      sent.set(request, { token: tokens.accessToken, retry: request.clone() });
      return undefined;
    },
    async onResponse({ request, response, options: merged }) {
      const attempt = sent.get(request);
      sent.delete(request);
      if (!attempt || response.status !== 401) return undefined;
      let token: string;
      if (tokens && tokens.accessToken !== attempt.token) {
        token = tokens.accessToken; // refreshed meanwhile by another request
      } else {
        try {
          token = (await refresh()).access_token;
        } catch {
          return undefined; // no new token: the caller gets the 401
        }
      }
      await response.body?.cancel();
      attempt.retry.headers.set("Authorization", `Bearer ${token}`);
      return merged.fetch(attempt.retry);
    },
  };
  client.use(credentials);

  const extras: KilnExtras = {
    get tokens() {
      return tokens;
    },
    setTokens,
    async login(email, password) {
      return adopt(await unwrap(client.POST("/v1/auth/login", { body: { email, password } })));
    },
    refresh,
    async logout({ allSessions = false } = {}) {
      const body = allSessions || !tokens ? {} : { refresh_token: tokens.refreshToken };
      await unwrap(client.POST("/v1/auth/logout", { body }));
      setTokens(null);
    },
    async waitForJob(id, { timeoutMs = 60_000, initialDelayMs = 100, maxDelayMs = 2_000, signal } = {}) {
      const deadline = Date.now() + timeoutMs;
      let delay = initialDelayMs;
      for (;;) {
        const job = await unwrap(client.GET("/v1/jobs/{id}", { params: { path: { id } }, signal }));
        switch (job.status) {
          case "succeeded":
            return job;
          case "failed":
          case "dead":
          case "cancelled":
            throw new JobFailedError(job);
          case "queued":
          case "running":
            break;
          default: {
            const unknown: never = job.status;
            throw new Error(`job ${id} has an unknown status ${String(unknown)}`);
          }
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new JobTimeoutError(job, timeoutMs);
        await sleep(Math.min(delay, left), signal);
        delay = Math.min(delay * 2, maxDelayMs);
      }
    },
  };

  return Object.defineProperties(client, Object.getOwnPropertyDescriptors(extras)) as KilnClient;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
