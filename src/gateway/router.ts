/** Routes "METHOD /path" patterns to services (find-my-way: a radix tree with params and wildcards). */
import FindMyWay from "find-my-way";
import type { HttpMethod } from "../config/index.ts";

const METHODS: HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/** One route the router serves. */
export interface RouteTarget {
  readonly service: string;
  /** The route as written, e.g. "GET /orders/:id". */
  readonly route: string;
}

/** What a lookup finds. */
export type RouteMatch =
  | { readonly kind: "found"; readonly target: RouteTarget; readonly params: Record<string, string> }
  | { readonly kind: "method"; readonly allowed: readonly string[] }
  | { readonly kind: "none" };

/** An immutable routing table; build a new one to change routes. */
export class Router {
  readonly #fmw = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 500 });
  readonly #hasGet = new Set<string>();

  constructor(routes: readonly { service: string; method: HttpMethod | "ANY"; path: string; raw: string }[]) {
    const noop = (): void => undefined;
    for (const r of routes) {
      const target: RouteTarget = { service: r.service, route: r.raw };
      const methods = r.method === "ANY" ? METHODS : [r.method];
      for (const m of methods) this.#fmw.on(m, r.path, noop, target);
    }
  }

  /** Finds the service for `method` and `path` (no query string). */
  match(method: string, path: string): RouteMatch {
    let found = this.#fmw.find(method as HttpMethod, path);
    if (!found && method === "HEAD") found = this.#fmw.find("GET", path);
    if (found) return { kind: "found", target: found.store as RouteTarget, params: found.params as Record<string, string> };
    const allowed = METHODS.filter((m) => m !== method && this.#fmw.find(m, path) !== null);
    return allowed.length > 0 ? { kind: "method", allowed } : { kind: "none" };
  }
}
