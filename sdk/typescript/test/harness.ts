// Starts a real `kiln serve` (embedded: SQLite, local storage, mail to the
// outbox) on a free port with a fresh data folder, and stops it afterwards.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: this file runs from sdk/typescript/dist/test/. */
export const KILN_ROOT = process.env["KILN_ROOT"] ?? fileURLToPath(new URL("../../../../", import.meta.url));

export function fixture(name: string): string {
  const path = join(KILN_ROOT, "jobs", "tests", "fixtures", name);
  if (!existsSync(path)) throw new Error(`test fixture ${path} is missing (is KILN_ROOT=${KILN_ROOT} right?)`);
  return path;
}

export function kilnBin(): string {
  const bin = process.env["KILN_BIN"];
  if (!bin) throw new Error("KILN_BIN is not set: point it at a kiln binary (e.g. target/debug/kiln)");
  if (!existsSync(bin) || !statSync(bin).isFile()) throw new Error(`KILN_BIN=${bin} does not exist`);
  return bin;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

export interface Server {
  baseUrl: string;
  dataDir: string;
  /** The server's recent output, for failure messages. */
  log(): string;
  /** `kiln user create` against the same data folder. */
  createUser(email: string, role: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startServer(): Promise<Server> {
  const bin = kilnBin();
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-sdk-ts-"));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KILN__DATA_DIR: dataDir,
    KILN__HTTP__LISTEN: `127.0.0.1:${port}`,
    // The tests log in and refresh more often than a person would.
    KILN__RATE_LIMIT__AUTH_PER_MINUTE: "6000",
    KILN__RATE_LIMIT__AUTH_BURST: "1000",
    // The webhook test's receiver listens on 127.0.0.1.
    KILN__WEBHOOKS__ALLOW_PRIVATE_TARGETS: "true",
    RUST_LOG: process.env["RUST_LOG"] ?? "info",
  };
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
  };
  const child: ChildProcess = spawn(bin, ["serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited: string | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      resolve();
    });
  });
  child.once("error", (error) => {
    exited = `could not start: ${error.message}`;
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const server: Server = {
    baseUrl,
    dataDir,
    log: () => output,
    createUser: (email, role, password) => createUser(bin, env, email, role, password),
    async stop() {
      if (exited === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exit;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) {
      await server.stop();
      throw new Error(`kiln serve ${exited} before it was ready:\n${output}`);
    }
    try {
      const response = await fetch(`${baseUrl}/health/ready`);
      if (response.status === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`kiln serve was not ready within 60 s on ${baseUrl}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function createUser(bin: string, env: NodeJS.ProcessEnv, email: string, role: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["user", "create", "--email", email, "--role", role, "--password-stdin"], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`kiln user create ${email} exited with ${code}:\n${output}`)),
    );
    child.stdin.end(`${password}\n`);
  });
}
