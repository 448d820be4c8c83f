/**
 * Versions and plans: the content address of a service version, and what applying a stack would
 * change compared with what a node runs (services, routes, bindings, subscriptions, schedules,
 * scaling, limits, vars, secret names, topics). Secret values never appear: only their names.
 */
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { ResolvedService, ResolvedStack } from "../config/index.ts";

/** A service's config as stored with its version: everything but the absolute entry path. */
export function serviceConfig(s: ResolvedService): string {
  const { entry: _entry, ...rest } = s;
  return JSON.stringify(rest);
}

/** sha256 of a bundle, hex. */
export function digestOf(code: string): string {
  return createHash("sha256").update(code).digest("hex");
}

/** The version id of (code, config): 12 hex digits of sha256. */
export function versionOf(code: string, config: string): string {
  return createHash("sha256").update(code).update("\0").update(config).digest("hex").slice(0, 12);
}

/** One change a plan lists. */
export interface PlanChange {
  kind: "service" | "topic" | "stack";
  name: string;
  action: "add" | "change" | "remove";
  /** Human-readable lines: "+ route GET /x", "~ scale.max: 10 -> 20", "code: a1b2c3d4e5f6 -> ...". */
  details: string[];
}

/** What an apply would do. */
export interface Plan {
  stack: string;
  changes: PlanChange[];
  /** The version each service would run. */
  versions: Record<string, string>;
}

/** The running side of a comparison. */
export interface Current {
  stack: ResolvedStack | null;
  active: Record<string, string>;
}

function bindingText(name: string, b: ResolvedService["bindings"][string]): string {
  switch (b.kind) {
    case "kv":
    case "sql":
      return `${name} (${b.kind})`;
    case "service":
      return `${name} (service ${b.service})`;
    case "egress":
      return `${name} (egress ${b.hosts.join(", ")})`;
    case "publish":
      return `${name} (publish ${b.topics.join(", ")})`;
    case "secret":
      return `${name} (secret ${b.secret})`;
  }
}

function listDiff(label: string, before: readonly string[], after: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of after) if (!before.includes(a)) out.push(`+ ${label} ${a}`);
  for (const b of before) if (!after.includes(b)) out.push(`- ${label} ${b}`);
  return out;
}

function fieldDiff(prefix: string, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!isDeepStrictEqual(before[k], after[k])) out.push(`~ ${prefix}.${k}: ${JSON.stringify(before[k])} -> ${JSON.stringify(after[k])}`);
  }
  return out;
}

function serviceDetails(before: ResolvedService | null, after: ResolvedService, fromVersion: string | null, toVersion: string): string[] {
  const b = before;
  const d: string[] = [];
  if (fromVersion !== toVersion) d.push(`version: ${fromVersion ?? "(none)"} -> ${toVersion}`);
  d.push(
    ...listDiff(
      "route",
      b?.routes.map((r) => r.raw) ?? [],
      after.routes.map((r) => r.raw),
    ),
  );
  const bb = b?.bindings ?? {};
  for (const [name, binding] of Object.entries(after.bindings)) {
    const old = bb[name];
    if (!old) d.push(`+ binding ${bindingText(name, binding)}`);
    else if (!isDeepStrictEqual(old, binding)) d.push(`~ binding ${bindingText(name, old)} -> ${bindingText(name, binding)}`);
  }
  for (const [name, binding] of Object.entries(bb)) if (!(name in after.bindings)) d.push(`- binding ${bindingText(name, binding)}`);
  const subs = new Map((b?.subscriptions ?? []).map((s) => [s.topic, s]));
  for (const s of after.subscriptions) {
    const old = subs.get(s.topic);
    if (!old) d.push(`+ subscribe ${s.topic}`);
    else d.push(...fieldDiff(`subscribe.${s.topic}`, old as unknown as Record<string, unknown>, s as unknown as Record<string, unknown>));
  }
  for (const t of subs.keys()) if (!after.subscriptions.some((s) => s.topic === t)) d.push(`- subscribe ${t}`);
  const sched = (s: ResolvedService["schedules"][number]): string => `${s.cron}${s.timezone ? ` (${s.timezone})` : ""}`;
  d.push(...listDiff("schedule", b?.schedules.map(sched) ?? [], after.schedules.map(sched)));
  if (b) {
    d.push(...fieldDiff("scale", b.scale, after.scale));
    d.push(...fieldDiff("limits", b.limits, after.limits));
    d.push(...fieldDiff("vars", b.vars, after.vars));
    if (b.asyncMaxAttempts !== after.asyncMaxAttempts) d.push(`~ async.maxAttempts: ${b.asyncMaxAttempts} -> ${after.asyncMaxAttempts}`);
  }
  if (fromVersion !== toVersion && d.length === 1) d.push("code changed");
  return d;
}

/** What applying `next` (with `versions` per service) would change on a node running `current`. */
export function planStack(current: Current, next: ResolvedStack, versions: Record<string, string>): Plan {
  const changes: PlanChange[] = [];
  const prev = current.stack;
  if (prev && prev.name !== next.name) changes.push({ kind: "stack", name: next.name, action: "change", details: [`~ name: ${prev.name} -> ${next.name}`] });
  if (prev && prev.gateway.maxBodySize !== next.gateway.maxBodySize) {
    changes.push({
      kind: "stack",
      name: next.name,
      action: "change",
      details: [`~ gateway.maxBodySize: ${prev.gateway.maxBodySize} -> ${next.gateway.maxBodySize}`],
    });
  }
  const prevTopics = new Map((prev?.topics ?? []).map((t) => [t.name, t]));
  for (const t of next.topics) {
    const old = prevTopics.get(t.name);
    if (!old) changes.push({ kind: "topic", name: t.name, action: "add", details: [`+ topic ${t.name}${t.ingest ? " (ingest)" : ""}`] });
    else if (!isDeepStrictEqual(old, t))
      changes.push({
        kind: "topic",
        name: t.name,
        action: "change",
        details: fieldDiff(`topics.${t.name}`, old as unknown as Record<string, unknown>, t as unknown as Record<string, unknown>),
      });
  }
  for (const name of prevTopics.keys())
    if (!next.topics.some((t) => t.name === name)) changes.push({ kind: "topic", name, action: "remove", details: [`- topic ${name}`] });

  const prevServices = new Map((prev?.services ?? []).map((s) => [s.name, s]));
  for (const s of next.services) {
    const old = prevServices.get(s.name) ?? null;
    const from = current.active[s.name] ?? null;
    const to = versions[s.name]!;
    const details = serviceDetails(old, s, from, to);
    if (!old) changes.push({ kind: "service", name: s.name, action: "add", details });
    else if (from !== to || details.length > 0) changes.push({ kind: "service", name: s.name, action: "change", details });
  }
  for (const [name, s] of prevServices) {
    if (!next.services.some((x) => x.name === name)) {
      changes.push({
        kind: "service",
        name,
        action: "remove",
        details: [`- version ${current.active[name] ?? "?"}`, ...s.routes.map((r) => `- route ${r.raw}`)],
      });
    }
  }
  return { stack: next.name, changes, versions };
}

/** A plan as text, one line per change and detail ("No changes." when there are none). */
export function formatPlan(plan: Plan): string {
  if (plan.changes.length === 0) return `stack "${plan.stack}": no changes.`;
  const sign = { add: "+", change: "~", remove: "-" } as const;
  const lines = [`stack "${plan.stack}": ${plan.changes.length} change${plan.changes.length === 1 ? "" : "s"}`];
  for (const c of plan.changes) {
    lines.push(`${sign[c.action]} ${c.kind} ${c.name}`);
    for (const d of c.details) lines.push(`    ${d}`);
  }
  return lines.join("\n");
}
