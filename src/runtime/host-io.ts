/**
 * The host side of the bindings: every I/O call a function makes arrives here with the binding
 * name, and is checked against what the stack file grants that service before anything happens.
 */
import { randomUUID } from "node:crypto";
import type { ResolvedService } from "../config/index.ts";
import { StratusError } from "../errors/index.ts";
import type { SqlMode, SqlValue, StateProvider } from "../state/index.ts";
import { subtleOperation } from "./host-crypto.ts";
import type { CallContext, InvokeRequest, InvokeResult } from "./instance.ts";

/** Calls another service in-process (no network hop); `req` carries the call's depth and deadline. */
export type ServiceCaller = (from: string, target: string, req: InvokeRequest) => Promise<InvokeResult>;

/** Publishes for a service: the grant is checked before this is called. Resolves once durable. */
export type Publisher = (
  service: string,
  topic: string,
  data: string | null,
  /**
   * `depth`: how many event handlings led to this publish (0 from fetch() or cron; the handled
   * event's depth + 1 from an event() handler and the service calls it makes).
   */
  opts: { key: string | null; id: string | null; subject: string | null; depth: number },
) => Promise<{ id: string; seq: number; duplicate: boolean }>;

/** [status, statusText, headers, body] as the sandbox's fetch reads it. */
type Wire = [number, string, string[], Uint8Array | null];

const MAX_HOPS = 16;
const MAX_FETCH_BODY = 32 * 1024 * 1024;
/** Headers one fetch or service-call request or response may carry, by count and in total bytes. */
const MAX_HEADERS = 256;
const MAX_HEADER_BYTES = 256 * 1024;

function tooLarge(what: string, size: string, cap: number): StratusError {
  return new StratusError(
    "STRATUS_E_FETCH_TOO_LARGE",
    `${what}: the response body ${size}; the limit is ${cap} bytes (a quarter of limits.memory, at most ${MAX_FETCH_BODY}); ask for less (a range, a page) or raise limits.memory`,
  );
}

/** Throws when a flat [name, value, ...] header list is over MAX_HEADERS or MAX_HEADER_BYTES. */
function checkHeaders(flat: readonly string[], what: string): void {
  if (flat.length / 2 > MAX_HEADERS) {
    throw new StratusError("STRATUS_E_FETCH_TOO_LARGE", `${what} has ${flat.length / 2} headers; the limit is ${MAX_HEADERS}`);
  }
  let bytes = 0;
  for (const x of flat) bytes += x.length;
  if (bytes > MAX_HEADER_BYTES) {
    throw new StratusError("STRATUS_E_FETCH_TOO_LARGE", `${what}'s headers are ${bytes} bytes; the limit is ${MAX_HEADER_BYTES}`);
  }
}

/**
 * Reads a body to its end, failing as soon as it passes `cap` bytes (a missing or lying
 * content-length does not matter): the caller then aborts the transfer.
 */
async function readCapped(body: AsyncIterable<Uint8Array> | AsyncIterator<Uint8Array> | null, cap: number, what: string): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const it = Symbol.asyncIterator in body ? body[Symbol.asyncIterator]() : body;
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await it.next();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await it.return?.();
      throw tooLarge(what, `is over ${cap} bytes`, cap);
    }
    parts.push(value);
  }
  return Buffer.concat(parts, total);
}

/** Does `host` (hostname[:port]) match a grant ("api.x.com", "*.x.com", "127.0.0.1:9000")? */
export function hostAllowed(url: URL, grants: readonly string[]): boolean {
  const hostname = url.hostname.toLowerCase();
  const withPort = url.port ? `${hostname}:${url.port}` : hostname;
  for (const g of grants) {
    if (g.includes(":") && !g.startsWith("[")) {
      if (g === withPort) return true;
    } else if (g.startsWith("*.")) {
      if (hostname.endsWith(g.slice(1))) return true;
    } else if (g === hostname) return true;
  }
  return false;
}

/** The I/O handler of one service. */
export class HostIo {
  readonly #service: ResolvedService;
  readonly #state: StateProvider;
  readonly #call: ServiceCaller;
  readonly #allEgress: string[];
  readonly #stackServices: ReadonlySet<string>;
  readonly #publish: Publisher | null;

  constructor(service: ResolvedService, state: StateProvider, call: ServiceCaller, stackServices: ReadonlySet<string>, publish: Publisher | null) {
    this.#service = service;
    this.#publish = publish;
    this.#state = state;
    this.#call = call;
    this.#stackServices = stackServices;
    this.#allEgress = Object.values(service.bindings).flatMap((b) => (b.kind === "egress" ? b.hosts : []));
  }

  /** The largest body one I/O call may carry into or out of the isolate (it is copied into its heap). */
  #bodyCap(): number {
    return Math.min(MAX_FETCH_BODY, Math.floor((this.#service.limits.memoryMb * 1024 * 1024) / 4));
  }

  #grant(name: unknown, kind: string): string {
    const b = typeof name === "string" ? this.#service.bindings[name] : undefined;
    if (!b || b.kind !== kind) {
      throw new StratusError(
        "STRATUS_E_BINDING_DENIED",
        `service "${this.#service.name}" has no ${kind} binding named ${JSON.stringify(name)}; grant it under services.${this.#service.name}.bindings in stratus.yaml`,
      );
    }
    return name as string;
  }

  /** Runs one I/O operation for the function. */
  async io(op: string, args: unknown[], requestIds: ReadonlySet<string>, call: CallContext | null, eventDepth = 0): Promise<unknown> {
    const svc = this.#service.name;
    switch (op) {
      case "kv.get": {
        const r = await this.#state.kv(svc, this.#grant(args[0], "kv"), this.#service.limits).get(args[1] as string);
        return r ? [r.value, r.metadata] : null;
      }
      case "kv.put":
        await this.#state.kv(svc, this.#grant(args[0], "kv"), this.#service.limits).put(args[1] as string, args[2] as Uint8Array, {
          expirationTtl: args[3] as number | null,
          expiration: args[4] as number | null,
          metadata: args[5] as string | null,
        });
        return null;
      case "kv.delete":
        await this.#state.kv(svc, this.#grant(args[0], "kv"), this.#service.limits).delete(args[1] as string);
        return null;
      case "kv.list":
        return this.#state
          .kv(svc, this.#grant(args[0], "kv"), this.#service.limits)
          .list({ prefix: args[1] as string, cursor: args[2] as string | null, limit: args[3] as number });
      case "sql.query":
        return this.#state.sql(svc, this.#grant(args[0], "sql"), this.#service.limits).query(args[1] as string, args[2] as SqlValue[], args[3] as SqlMode);
      case "sql.batch":
        return this.#state.sql(svc, this.#grant(args[0], "sql"), this.#service.limits).batch(args[1] as [string, SqlValue[]][]);
      case "sql.exec":
        return this.#state.sql(svc, this.#grant(args[0], "sql"), this.#service.limits).exec(args[1] as string);
      case "service":
        return this.#serviceCall(args, requestIds, call);
      case "publish":
        return this.#publishEvent(args, eventDepth);
      case "fetch":
        return this.#fetch(args);
      case "subtle":
        return subtleOperation(args[0] as string, args[1] as unknown[]);
      default:
        throw new StratusError("STRATUS_E_INTERNAL", `unknown host operation "${op}"`);
    }
  }

  async #publishEvent(args: unknown[], eventDepth: number): Promise<[string, number, boolean]> {
    const name = this.#grant(args[0], "publish");
    const topic = args[1] as string;
    const topics = (this.#service.bindings[name] as { topics: readonly string[] }).topics;
    if (!topics.includes(topic)) {
      throw new StratusError(
        "STRATUS_E_PUBLISH_DENIED",
        `service "${this.#service.name}" may not publish to "${topic}" through env.${name}; it may publish to ${topics.map((t) => `"${t}"`).join(", ")}; add the topic to services.${this.#service.name}.bindings.${name}.publish in stratus.yaml`,
      );
    }
    if (!this.#publish) throw new StratusError("STRATUS_E_INTERNAL", "events are not enabled in this process");
    const r = await this.#publish(this.#service.name, topic, args[2] as string | null, {
      key: args[3] as string | null,
      id: args[4] as string | null,
      subject: args[5] as string | null,
      depth: eventDepth,
    });
    return [r.id, r.seq, r.duplicate];
  }

  /**
   * A service call. Depth and deadline travel with the call (never in shared state): parallel
   * calls of one request are each one level deeper than it, and a chain of calls, however it
   * branches, ends at its root request's deadline. Work a finished request left behind (a
   * ctx.waitUntil or timer still calling after it was answered) calls no one.
   */
  async #serviceCall(args: unknown[], requestIds: ReadonlySet<string>, call: CallContext | null): Promise<Wire> {
    const name = this.#grant(args[0], "service");
    const target = (this.#service.bindings[name] as { service: string }).service;
    if (call === null) {
      throw new StratusError(
        "STRATUS_E_BINDING_DENIED",
        `service "${this.#service.name}" called "${target}" on behalf of no live request (its request was already answered and its ctx.waitUntil time was over); make the call while the request or its ctx.waitUntil work is running`,
      );
    }
    if (call.depth >= MAX_HOPS) {
      throw new StratusError(
        "STRATUS_E_BINDING_DENIED",
        `service call chain is ${call.depth} calls deep (limit ${MAX_HOPS}); check for a loop between services`,
      );
    }
    const left = call.deadline - performance.now();
    if (left <= 0) {
      throw new StratusError(
        "STRATUS_E_TIMEOUT",
        `service "${this.#service.name}" called "${target}" after the deadline of the request it serves (the first service's limits.timeout, counted from when the client's request arrived); a chain of service calls must finish within it`,
      );
    }
    const body = (args[4] as Uint8Array | null) ?? null;
    const cap = this.#bodyCap();
    if (body && body.byteLength > cap) {
      throw new StratusError(
        "STRATUS_E_FETCH_TOO_LARGE",
        `service "${target}": the request body is ${body.byteLength} bytes; the limit is ${cap} bytes (a quarter of limits.memory, at most ${MAX_FETCH_BODY}); send less or raise limits.memory`,
      );
    }
    checkHeaders(args[3] as string[], `service "${target}": the request`);
    // The callee shares the caller's request id when the isolate said which request called; a
    // call it could not attribute gets an id of its own rather than another request's.
    const requestId = requestIds.size === 1 ? requestIds.values().next().value! : randomUUID();
    const res = await this.#call(this.#service.name, target, {
      method: args[1] as string,
      url: args[2] as string,
      headers: args[3] as string[],
      body,
      requestId,
      depth: call.depth + 1,
      deadline: call.deadline,
    });
    const it = res.stream?.[Symbol.asyncIterator]();
    let out: Uint8Array | null = null;
    try {
      checkHeaders(res.headers, `service "${target}": the response`);
      if (it) out = await readCapped(it, cap, `service "${target}"`);
      else if (res.body !== null) {
        out = typeof res.body === "string" ? Buffer.from(res.body) : res.body;
        if (out.byteLength > cap) throw tooLarge(`service "${target}"`, `is ${out.byteLength} bytes`, cap);
      }
    } finally {
      // Cancels the callee's stream when it was not read to its end (a no-op after its end).
      await it?.return?.();
    }
    return [res.status, res.statusText, res.headers, out];
  }

  async #fetch(args: unknown[]): Promise<Wire> {
    const [binding, method, href, headers, body] = args as [string | null, string, string, string[], Uint8Array | null];
    const grants: readonly string[] =
      binding === null ? this.#allEgress : (this.#service.bindings[this.#grant(binding, "egress")] as { hosts: readonly string[] }).hosts;
    const url = new URL(href);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new StratusError("STRATUS_E_EGRESS_DENIED", `fetch("${href}"): only http: and https: URLs can be fetched`);
    }
    if (!hostAllowed(url, grants)) {
      const hint = this.#stackServices.has(url.hostname)
        ? `; to call service "${url.hostname}", grant a service binding (e.g. ${url.hostname.toUpperCase()}: { service: ${url.hostname} }) and use env.${url.hostname.toUpperCase()}.fetch()`
        : `; grant it with a binding such as API: { egress: ["${url.host}"] } under services.${this.#service.name}.bindings`;
      throw new StratusError(
        "STRATUS_E_EGRESS_DENIED",
        `fetch("${href}") denied: service "${this.#service.name}" may not reach host "${url.host}"${binding ? ` through env.${binding}` : ""}${hint}`,
      );
    }
    const cap = this.#bodyCap();
    if (body && body.byteLength > cap) {
      throw new StratusError(
        "STRATUS_E_FETCH_TOO_LARGE",
        `fetch("${href}"): the request body is ${body.byteLength} bytes; the limit is ${cap} bytes (a quarter of limits.memory, at most ${MAX_FETCH_BODY}); send less or raise limits.memory`,
      );
    }
    checkHeaders(headers, `fetch("${href}"): the request`);
    const h = new Headers();
    for (let i = 0; i < headers.length; i += 2) h.append(headers[i]!, headers[i + 1]!);
    const abort = new AbortController();
    const res = await fetch(url, {
      method,
      headers: h,
      ...(body ? { body } : {}),
      redirect: "manual",
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(this.#service.limits.timeoutMs)]),
    });
    try {
      const flat: string[] = [];
      res.headers.forEach((v, k) => flat.push(k, v));
      checkHeaders(flat, `fetch("${href}"): the response`);
      const len = Number(res.headers.get("content-length") ?? 0);
      if (len > cap) throw tooLarge(`fetch("${href}")`, `is ${len} bytes`, cap);
      const out = await readCapped(res.body, cap, `fetch("${href}")`);
      return [res.status, res.statusText, flat, out];
    } catch (err) {
      // Stop the upstream transfer: nothing more of it will be read.
      abort.abort(err);
      throw err;
    }
  }
}
