/**
 * Reads stratus.yaml, validates it once against the schema and resolves it into a frozen config
 * that nothing downstream re-checks. Every error names the file, the line, the path in the
 * document, the bad value and the fix.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { LineCounter, parseDocument, isNode } from "yaml";
import type { z } from "zod";
import { StratusError } from "../errors/index.ts";
import { SCALE_MAX, StackFile, type StackFileParsed } from "./schema.ts";
import { Cron } from "croner";
import type {
  BindingConfig,
  HttpMethod,
  ResolvedRoute,
  ResolvedSchedule,
  ResolvedService,
  ResolvedStack,
  ResolvedSubscription,
  ResolvedTopic,
} from "./types.ts";

/** The name of the stack file in a project directory. */
export const STACK_FILE = "stratus.yaml";

/** Loads and resolves the stack in `dirOrFile` (a project directory or a stratus.yaml path). */
export function loadStack(dirOrFile: string): ResolvedStack {
  const abs = resolve(dirOrFile);
  if (!existsSync(abs)) {
    throw new StratusError(
      "STRATUS_E_CONFIG_NOT_FOUND",
      `${dirOrFile}: no such directory; pass the project directory that holds ${STACK_FILE}, or create one with "stratus init ${dirOrFile}"`,
    );
  }
  const file = statSync(abs).isDirectory() ? join(abs, STACK_FILE) : abs;
  if (!existsSync(file)) {
    throw new StratusError(
      "STRATUS_E_CONFIG_NOT_FOUND",
      `${file}: no stack file here; run "stratus init <dir>" to create a project, or pass the directory that holds ${STACK_FILE}`,
    );
  }
  return parseStack(readFileSync(file, "utf8"), file);
}

/** Options of parseStack. */
export interface ParseOptions {
  /** Check that every entry file exists (default true; a node receiving built bundles has no sources). */
  checkEntries?: boolean;
}

/** Parses stack-file text; `file` is used for error messages and to resolve entry paths. */
export function parseStack(text: string, file: string, opts: ParseOptions = {}): ResolvedStack {
  const shown = relative(process.cwd(), file) || file;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new StratusError(
      "STRATUS_E_CONFIG_PARSE",
      `${shown}:${pos.line}:${pos.col}: not valid YAML: ${e.message.split("\n")[0]}; fix the syntax at that line`,
    );
  }
  const raw: unknown = doc.toJS();
  const where = (path: readonly PropertyKey[]): string => {
    const node = doc.getIn(path as unknown[], true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return `${shown}:${pos.line}:${pos.col}`;
    }
    return shown;
  };
  const parsed = StackFile.safeParse(raw ?? {});
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => describeIssue(issue, raw, where));
    throw new StratusError("STRATUS_E_CONFIG_INVALID", messages.join("\n"));
  }
  return resolveStack(parsed.data, file, where, opts.checkEntries ?? true);
}

/** Renders a document path the way users read it: services.orders.routes[1]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out || "(top level)";
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const BINDING_KINDS = "{ kv: {} }, { sql: {} }, { service: NAME }, { publish: [TOPIC] }, { secret: NAME } or { egress: [HOST] }";

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, where: (p: readonly PropertyKey[]) => string): string {
  const path = issue.path;
  const value = valueAt(raw, path);
  const at = `${where(path)}: ${formatPath(path)}`;
  if (issue.code === "invalid_union" && path.includes("bindings")) {
    // Report the branch whose key the user wrote, not every alternative.
    const keys = value && typeof value === "object" ? Object.keys(value) : [];
    if (keys.length === 1) {
      const branch = issue.errors.find((errs) => errs.every((e) => e.code !== "unrecognized_keys" && e.path[0] === keys[0]));
      if (branch && branch[0]) return describeIssue({ ...branch[0], path: [...path, ...branch[0].path] }, raw, where);
    }
    return `${at}: ${show(value)} is not a binding; write exactly one of ${BINDING_KINDS}`;
  }
  if (issue.code === "invalid_union") {
    // "x: {...}" or "x:" (null) unions: report the branch that took the value's type.
    const branch = issue.errors.find((errs) => errs.length > 0 && !errs.some((e) => e.code === "invalid_type" && e.path.length === 0));
    if (branch) return branch.map((e) => describeIssue({ ...e, path: [...path, ...e.path] }, raw, where)).join("\n");
  }
  if (issue.code === "invalid_key") {
    const key = path[path.length - 1];
    const inner = issue.issues[0]?.message ?? "bad key";
    return `${where(path.slice(0, -1))}: ${formatPath(path.slice(0, -1))}: the name ${JSON.stringify(key)} is not valid: ${inner}`;
  }
  if (issue.code === "unrecognized_keys") {
    return `${at}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove ${issue.keys.length > 1 ? "them" : "it"} or check the spelling against docs/stack-file.md`;
  }
  if (issue.code === "invalid_type" && value === undefined) {
    return `${at}: is required (${issue.expected}); add it`;
  }
  return `${at}: ${show(value)} is not valid: ${fixFor(issue)}`;
}

/** A zod issue phrased as what to write instead. */
function fixFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "too_small":
      if (issue.origin === "array") return `it needs at least ${String(issue.minimum)} item${issue.minimum === 1 ? "" : "s"}`;
      return `it must be ${issue.inclusive ? "at least" : "more than"} ${String(issue.minimum)}`;
    case "too_big":
      return `it must be ${issue.inclusive ? "at most" : "less than"} ${String(issue.maximum)}`;
    case "invalid_type":
      if (issue.expected === "int") return "it must be a whole number";
      if (issue.expected === "array") return 'it must be a list, e.g. ["GET /orders"]';
      if (issue.expected === "object") return "it must be a mapping (key: value)";
      return `it must be a ${issue.expected}`;
    case "invalid_value":
      return `it must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}

/** Parses "10s" / 500 / "2m" into milliseconds. */
export function parseDuration(value: number | string): number {
  if (typeof value === "number") return value;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value);
  if (!m) throw new StratusError("STRATUS_E_CONFIG_INVALID", `"${value}" is not a duration; write e.g. "500ms" or "10s"`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
  return Math.round(n * unit);
}

/** Parses "1mb" / 4096 into bytes. */
export function parseSize(value: number | string): number {
  if (typeof value === "number") return value;
  const m = /^(\d+)(kb|mb|gb|b)$/i.exec(value);
  if (!m) throw new StratusError("STRATUS_E_CONFIG_INVALID", `"${value}" is not a size; write e.g. "512kb", "1mb" or "1gb"`);
  const unit = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 * 1024 * 1024 }[m[2]!.toLowerCase() as "b" | "kb" | "mb" | "gb"];
  return Number(m[1]) * unit;
}

/** The shape two routes share when they match the same requests: params and names erased. */
function routeShape(path: string): string {
  return path.replace(/:[^/]+/g, ":");
}

function resolveStack(data: StackFileParsed, file: string, where: (p: readonly PropertyKey[]) => string, checkEntries: boolean): ResolvedStack {
  const dir = dirname(file);
  const errors: string[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, { service: string; route: string; index: number }[]>();
  const services: ResolvedService[] = [];
  const names = Object.keys(data.services);
  // A topic exists when the stack declares it or grants publish to it.
  const topics = new Map<string, ResolvedTopic>();
  for (const [t, opts] of Object.entries(data.topics)) topics.set(t, { name: t, ingest: opts.ingest, retentionMs: parseDuration(opts.retention) });
  for (const svc of Object.values(data.services)) {
    for (const b of Object.values(svc.bindings)) {
      if ("publish" in b) for (const t of b.publish) if (!topics.has(t)) topics.set(t, { name: t, ingest: false, retentionMs: 7 * 86_400_000 });
    }
  }

  for (const [name, svc] of Object.entries(data.services)) {
    const base = ["services", name];
    const entry = resolve(dir, svc.entry);
    if (checkEntries && !existsSync(entry)) {
      errors.push(`${where([...base, "entry"])}: services.${name}.entry: "${svc.entry}" does not exist (looked for ${entry}); create it or fix the path`);
    }
    const routes: ResolvedRoute[] = [];
    svc.routes.forEach((raw, index) => {
      const [method, path] = raw.split(" ") as [HttpMethod | "ANY", string];
      if (path === "/_stratus" || path.startsWith("/_stratus/")) {
        errors.push(
          `${where([...base, "routes", index])}: services.${name}.routes[${index}]: "${raw}" is under /_stratus/, which the gateway keeps for events and async invocations; choose another path`,
        );
      }
      const shape = routeShape(path);
      const others = seen.get(shape) ?? [];
      for (const other of others) {
        const otherMethod = other.route.split(" ")[0];
        if (otherMethod === method || otherMethod === "ANY" || method === "ANY") {
          const whom = other.service === name ? "this service already" : `service "${other.service}"`;
          errors.push(
            `${where([...base, "routes", index])}: services.${name}.routes[${index}]: "${raw}" is also routed to ${whom} (as "${other.route}" at services.${other.service}.routes[${other.index}]); give one of them another path`,
          );
        }
      }
      others.push({ service: name, route: raw, index });
      seen.set(shape, others);
      routes.push({ method, path, raw });
    });

    const bindings: Record<string, BindingConfig> = {};
    for (const [bname, b] of Object.entries(svc.bindings)) {
      const at = `${where([...base, "bindings", bname])}: services.${name}.bindings.${bname}`;
      if (bname in svc.vars) errors.push(`${at}: "${bname}" is both a binding and a var; rename one of them`);
      if ("kv" in b) bindings[bname] = { kind: "kv" };
      else if ("sql" in b) bindings[bname] = { kind: "sql" };
      else if ("service" in b) {
        if (!names.includes(b.service)) {
          errors.push(`${at}: service "${b.service}" is not in this stack; use one of ${names.map((n) => `"${n}"`).join(", ")}`);
        }
        bindings[bname] = { kind: "service", service: b.service };
      } else if ("egress" in b) bindings[bname] = { kind: "egress", hosts: b.egress.map((h) => h.toLowerCase()) };
      else if ("publish" in b) bindings[bname] = { kind: "publish", topics: [...new Set(b.publish)] };
      else bindings[bname] = { kind: "secret", secret: b.secret };
    }
    const subscriptions: ResolvedSubscription[] = [];
    for (const [topic, sub] of Object.entries(svc.subscribe)) {
      if (!topics.has(topic)) {
        const known = [...topics.keys()];
        errors.push(
          `${where([...base, "subscribe", topic])}: services.${name}.subscribe.${topic}: no topic "${topic}" in this stack; declare it under topics: (with ingest: true for events from outside) or grant a service publish: [${topic}]${known.length ? `; known topics: ${known.map((k) => `"${k}"`).join(", ")}` : ""}`,
        );
      }
      const initialMs = parseDuration(sub.backoff.initial);
      const maxMs = parseDuration(sub.backoff.max);
      if (initialMs > maxMs) {
        errors.push(
          `${where([...base, "subscribe", topic, "backoff"])}: services.${name}.subscribe.${topic}.backoff: initial (${initialMs} ms) is more than max (${maxMs} ms); lower initial or raise max`,
        );
      }
      subscriptions.push({
        name: `${name}:${topic}`,
        service: name,
        topic,
        maxAttempts: sub.maxAttempts,
        backoff: { initialMs, maxMs },
        deadLetter: sub.deadLetter,
        ordering: sub.ordering,
        maxConcurrency: sub.maxConcurrency,
        startAt: sub.startAt,
      });
    }
    const schedules: ResolvedSchedule[] = [];
    svc.schedules.forEach((s, index) => {
      try {
        new Cron(s.cron, { paused: true, ...(s.timezone ? { timezone: s.timezone } : {}) }).nextRun();
      } catch (err) {
        const why = err instanceof Error ? err.message.replace(/^CronPattern: /, "") : String(err);
        errors.push(
          `${where([...base, "schedules", index])}: services.${name}.schedules[${index}]: ${JSON.stringify(s)} is not a valid schedule: ${why}; write e.g. cron: "*/5 * * * *" (minute hour day month weekday) and an IANA timezone such as "Europe/Berlin"`,
        );
      }
      schedules.push({ id: `${name}#${index}`, service: name, cron: s.cron, timezone: s.timezone ?? null });
    });
    for (const [key, max, text] of [
      ["timeout", SCALE_MAX.timeoutMs, "15m"],
      ["cpu", SCALE_MAX.cpuMs, "5m"],
    ] as const) {
      const ms = parseDuration(svc.limits[key]);
      if (ms > max) {
        errors.push(
          `${where([...base, "limits", key])}: services.${name}.limits.${key}: ${JSON.stringify(svc.limits[key])} is more than the most allowed (${text}); lower it to ${text} or less`,
        );
      }
    }
    if (svc.scale.min > svc.scale.max) {
      errors.push(
        `${where([...base, "scale", "min"])}: services.${name}.scale.min: ${svc.scale.min} is more than scale.max (${svc.scale.max}); lower min or raise max`,
      );
    }
    services.push({
      name,
      entry,
      entryAsWritten: svc.entry,
      runtime: svc.runtime,
      routes,
      bindings,
      vars: { ...svc.vars },
      scale: {
        min: svc.scale.min,
        max: svc.scale.max,
        concurrency: svc.scale.concurrency,
        idleTimeoutMs: parseDuration(svc.scale.idleTimeout),
        queue: svc.scale.queue,
      },
      limits: {
        memoryMb: svc.limits.memory,
        timeoutMs: parseDuration(svc.limits.timeout),
        cpuMs: parseDuration(svc.limits.cpu),
        storageBytes: parseSize(svc.limits.storage),
      },
      subscriptions,
      schedules,
      asyncMaxAttempts: svc.async.maxAttempts,
    });
  }
  if (errors.length > 0)
    throw new StratusError(errors.some((e) => e.includes("also routed")) ? "STRATUS_E_ROUTE_CONFLICT" : "STRATUS_E_CONFIG_INVALID", errors.join("\n"));
  return deepFreeze({
    name: data.name,
    dir,
    file,
    gateway: { maxBodySize: parseSize(data.gateway.maxBodySize) },
    services,
    topics: [...topics.values()],
    warnings,
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
