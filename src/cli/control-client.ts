/**
 * A small client of the control API for the CLI commands that talk to a running node. The node's
 * URL and token come from --url / --token, then $STRATUS_URL / $STRATUS_TOKEN, then
 * ~/.stratus/config.json ({ "url": ..., "token": ... }), in that order.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ERROR_CODES, StratusError, type ErrorCode } from "../errors/index.ts";
import type { Endpoints } from "./control-api.gen.ts";

function configFile(): { url?: string; token?: string } {
  const file = join(process.env["HOME"] ?? homedir(), ".stratus", "config.json");
  try {
    return JSON.parse(readFileSync(file, "utf8")) as { url?: string; token?: string };
  } catch {
    return {};
  }
}

/** The control API's base URL: --url, then $STRATUS_URL, then the config file, then the local default. */
export function controlBase(url: string | undefined): string {
  return (url || process.env["STRATUS_URL"] || configFile().url || "http://127.0.0.1:8081").replace(/\/$/, "");
}

/** The token: --token, then $STRATUS_TOKEN, then the config file (none for `stratus dev`). */
export function controlToken(token: string | undefined): string | undefined {
  // An empty variable is an unset one (a shell's STRATUS_TOKEN= clears it).
  return token || process.env["STRATUS_TOKEN"] || configFile().token || undefined;
}

/** How long a command waits for a node that is starting (its control API or its token file), in ms. */
export const START_WAIT_MS = Number(process.env["STRATUS_WAIT_MS"] ?? 15_000);

let defaultToken: string | undefined;
let tokenFile: string | undefined;
let tokenChosen = false;

/** The --token option every command that talks to a node takes. */
export const TOKEN_OPTION = ["--token <token>", "API token (default: $STRATUS_TOKEN, $STRATUS_TOKEN_FILE, ~/.stratus/config.json)"] as const;

/**
 * Sets the token every later call sends (from the command's --token option). Without one,
 * $STRATUS_TOKEN_FILE names a file to read it from when the first call is made (a node that is
 * starting writes DATA/admin-token once its control API answers).
 */
export function useToken(token: string | undefined): void {
  tokenChosen = true;
  defaultToken = controlToken(token);
  tokenFile = defaultToken === undefined ? process.env["STRATUS_TOKEN_FILE"] || undefined : undefined;
}

let waitSaid = false;
function sayWaiting(what: string): void {
  if (waitSaid) return;
  waitSaid = true;
  process.stderr.write(`stratus: waiting up to ${Math.round(START_WAIT_MS / 1000)}s for ${what}\n`);
}

/** The token from $STRATUS_TOKEN_FILE, waiting briefly for a starting node to write it. */
async function tokenFromFile(file: string): Promise<string> {
  const until = Date.now() + START_WAIT_MS;
  for (;;) {
    try {
      const t = readFileSync(file, "utf8").trim();
      if (t !== "") return t;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw new StratusError("STRATUS_E_CLI_USAGE", `cannot read $STRATUS_TOKEN_FILE ${file}: ${(err as Error).message}`);
    }
    if (Date.now() >= until) {
      throw new StratusError(
        "STRATUS_E_CLI_USAGE",
        `no token in ${file} after ${Math.round(START_WAIT_MS / 1000)}s; is "stratus start" running with that data directory? (set STRATUS_TOKEN or pass --token instead)`,
      );
    }
    sayWaiting(`the node to write ${file}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** True for a connection a starting node would refuse (nothing listens yet). */
function refused(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code;
  return code === "ECONNREFUSED";
}

/** Calls the control API; a refused or failed call becomes a StratusError that says what to do. */
export async function callControl<T>(base: string, method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<T> {
  let res: Response;
  const headers: Record<string, string> = {};
  // The control API takes a POST or PUT only as JSON (a web page cannot send that without a preflight).
  if (body === undefined && (method === "POST" || method === "PUT")) body = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  // A command that chose no token still honours $STRATUS_TOKEN and $STRATUS_TOKEN_FILE.
  if (!tokenChosen) useToken(undefined);
  if (tokenFile !== undefined) {
    defaultToken = await tokenFromFile(tokenFile);
    tokenFile = undefined;
  }
  const token = defaultToken ?? controlToken(undefined);
  if (token) headers["authorization"] = `Bearer ${token}`;
  const until = Date.now() + START_WAIT_MS;
  const payload = body !== undefined ? JSON.stringify(body) : undefined;
  try {
    for (;;) {
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers,
          ...(payload !== undefined ? { body: payload } : {}),
          signal: AbortSignal.timeout(120_000),
        });
        break;
      } catch (err) {
        // A node that is starting refuses connections for a moment: wait for it, briefly.
        if (!refused(err) || Date.now() >= until) throw err;
        sayWaiting(`the control API at ${base} to answer`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } catch (err) {
    throw new StratusError(
      "STRATUS_E_CLI_USAGE",
      `cannot reach the control API at ${base} (${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}); is "stratus dev" or "stratus start" running? pass --url or set STRATUS_URL`,
    );
  }
  const text = await res.text();
  if (!res.ok) {
    let e: { code?: string; message?: string } | undefined;
    try {
      e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      e = undefined;
    }
    const code = typeof e?.code === "string" && Object.hasOwn(ERROR_CODES, e.code) ? (e.code as ErrorCode) : "STRATUS_E_CLI_USAGE";
    throw new StratusError(code, e?.message ?? `${base}${path} answered ${res.status}: ${text}`);
  }
  return JSON.parse(text) as T;
}

/**
 * Calls one endpoint of the node API, typed from its OpenAPI document (control-api.gen.ts):
 * `callApi(base, "POST /v1/services/{name}/deploy", { name }, body)`; parameters the path does not
 * name become the query string.
 */
export function callApi<K extends keyof Endpoints>(
  base: string,
  key: K,
  params: Record<string, string>,
  ...body: [Endpoints[K]["request"]] extends [never] ? [] : [Endpoints[K]["request"]]
): Promise<Endpoints[K]["response"]> {
  const [method, pattern] = key.split(" ") as ["GET" | "POST" | "PUT" | "DELETE", string];
  const used = new Set<string>();
  const path = pattern.replace(/\{(\w+)\}/g, (_m, n: string) => {
    used.add(n);
    return encodeURIComponent(params[n] ?? "");
  });
  // Parameters the path does not name go in the query string.
  const query = new URLSearchParams(Object.entries(params).filter(([k]) => !used.has(k))).toString();
  return callControl<Endpoints[K]["response"]>(base, method, query ? `${path}?${query}` : path, body[0]);
}
