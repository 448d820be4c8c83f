/** A small client of the node's control API for the CLI commands that talk to a running node. */
import { ERROR_CODES, StratusError, type ErrorCode } from "../errors/index.ts";

/** The control API's base URL: --url, then $STRATUS_URL, then the dev default. */
export function controlBase(url: string | undefined): string {
  return (url ?? process.env["STRATUS_URL"] ?? "http://127.0.0.1:8081").replace(/\/$/, "");
}

/** Calls the control API; a refused or failed call becomes a StratusError that says what to do. */
export async function callControl<T>(base: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new StratusError(
      "STRATUS_E_CLI_USAGE",
      `cannot reach the control API at ${base} (${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}); is "stratus dev" running? pass --url or set STRATUS_URL`,
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
    const code = e?.code && e.code in ERROR_CODES ? (e.code as ErrorCode) : "STRATUS_E_CLI_USAGE";
    throw new StratusError(code, e?.message ?? `${base}${path} answered ${res.status}: ${text}`);
  }
  return JSON.parse(text) as T;
}
