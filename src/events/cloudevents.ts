/**
 * CloudEvents 1.0: building the envelope for a publish, checking one that arrives from outside,
 * and reading the HTTP binding's binary, structured and batch content modes.
 */
import { randomUUID } from "node:crypto";
import { StratusError } from "../errors/index.ts";
import type { CloudEvent } from "./interface.ts";

/** The largest serialised event accepted (the CloudEvent JSON, data included). */
export const MAX_EVENT_BYTES = 256 * 1024;
/** The most events one batch-mode request (`application/cloudevents-batch+json`) may carry. */
export const MAX_BATCH_EVENTS = 100;

/** The largest id or key. */
const MAX_ID = 256;

const EXTENSION = /^[a-z0-9]{1,20}$/;
const REQUIRED = ["id", "source", "type", "specversion"] as const;

/** Options of a publish. */
export interface PublishOptions {
  /** The CloudEvent id; the same id on the same topic is stored once (idempotent publish). Default: a new UUID. */
  id?: string | undefined;
  /** The ordering key (subscriptions with ordering: key handle one event per key at a time). */
  key?: string | undefined;
  /** CloudEvents subject. */
  subject?: string | undefined;
}

/** The envelope of a publish to `topic` by `source` (e.g. "/services/orders"). */
export function makeEvent(topic: string, source: string, data: unknown, opts: PublishOptions, now: number): CloudEvent {
  if (opts.id !== undefined && (typeof opts.id !== "string" || opts.id.length === 0 || opts.id.length > MAX_ID)) {
    throw new StratusError("STRATUS_E_EVENT_INVALID", `publish("${topic}"): id must be a non-empty string of at most ${MAX_ID} characters`);
  }
  if (opts.key !== undefined && opts.key !== null && (typeof opts.key !== "string" || opts.key.length > MAX_ID)) {
    throw new StratusError("STRATUS_E_EVENT_INVALID", `publish("${topic}"): key must be a string of at most ${MAX_ID} characters`);
  }
  const ev: CloudEvent = {
    specversion: "1.0",
    id: opts.id ?? randomUUID(),
    source,
    type: topic,
    time: new Date(now).toISOString(),
    datacontenttype: "application/json",
  };
  if (opts.subject !== undefined) ev.subject = String(opts.subject);
  if (opts.key) ev["partitionkey"] = opts.key;
  if (data !== undefined) ev.data = data;
  return ev;
}

/** Checks a CloudEvent from outside; returns it with `time` filled in. Throws STRATUS_E_EVENT_INVALID saying what to fix. */
export function checkEvent(value: unknown, now: number): CloudEvent {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new StratusError("STRATUS_E_EVENT_INVALID", "a CloudEvent must be a JSON object with specversion, id, source and type");
  }
  const ev = value as Record<string, unknown>;
  const missing = REQUIRED.filter((k) => typeof ev[k] !== "string" || ev[k] === "");
  if (missing.length > 0) {
    throw new StratusError(
      "STRATUS_E_EVENT_INVALID",
      `not a CloudEvent: ${missing.map((m) => `"${m}"`).join(", ")} ${missing.length > 1 ? "are" : "is"} missing or empty; send specversion "1.0", id, source and type (the topic)`,
    );
  }
  if (ev["specversion"] !== "1.0") {
    throw new StratusError("STRATUS_E_EVENT_INVALID", `specversion ${JSON.stringify(ev["specversion"])} is not supported; send "1.0"`);
  }
  if ((ev["id"] as string).length > MAX_ID) throw new StratusError("STRATUS_E_EVENT_INVALID", `id is over ${MAX_ID} characters`);
  for (const k of Object.keys(ev)) {
    if (k === "data" || k === "data_base64" || REQUIRED.includes(k as (typeof REQUIRED)[number])) continue;
    if (!EXTENSION.test(k)) {
      throw new StratusError("STRATUS_E_EVENT_INVALID", `attribute name "${k}" is not valid in CloudEvents 1.0; use lowercase letters and digits, at most 20`);
    }
  }
  if (ev["time"] !== undefined && (typeof ev["time"] !== "string" || Number.isNaN(Date.parse(ev["time"])))) {
    throw new StratusError("STRATUS_E_EVENT_INVALID", `time ${JSON.stringify(ev["time"])} is not an RFC 3339 timestamp`);
  }
  if ("data" in ev && "data_base64" in ev) throw new StratusError("STRATUS_E_EVENT_INVALID", "send data or data_base64, not both");
  return { ...(ev as CloudEvent), time: ev["time"] ?? new Date(now).toISOString() };
}

/** Serialises an event, enforcing MAX_EVENT_BYTES. */
export function serialise(ev: CloudEvent): string {
  let body: string;
  try {
    body = JSON.stringify(ev);
  } catch (err) {
    throw new StratusError(
      "STRATUS_E_EVENT_INVALID",
      `event "${ev.type}": data cannot be serialised as JSON (${(err as Error).message}); send plain objects, arrays, strings, numbers`,
    );
  }
  if (body.length > MAX_EVENT_BYTES / 4 && Buffer.byteLength(body) > MAX_EVENT_BYTES) tooLarge(ev.type, Buffer.byteLength(body));
  return body;
}

/** Throws STRATUS_E_EVENT_TOO_LARGE for an event of `topic` that is `bytes` long. */
export function tooLarge(topic: string, bytes: number): never {
  throw new StratusError(
    "STRATUS_E_EVENT_TOO_LARGE",
    `event "${topic}" is ${bytes} bytes serialised; the limit is ${MAX_EVENT_BYTES} (256 KiB): store the payload in KV or SQL and publish its key`,
  );
}

/** The partition key of an event (the `partitionkey` extension), or null. */
export function keyOf(ev: CloudEvent): string | null {
  const k = ev["partitionkey"];
  return typeof k === "string" && k !== "" ? k : null;
}

function header(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/**
 * The CloudEvents in an HTTP request (HTTP protocol binding 1.0): structured mode
 * (`application/cloudevents+json`), batch mode (`application/cloudevents-batch+json`) or binary
 * mode (`ce-*` headers, the body is the data). `headers` is flat [name, value, ...], lowercase names.
 */
export function fromHttp(headers: readonly string[], body: Uint8Array | null, now: number): CloudEvent[] {
  const type = (header(headers, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const text = (): string => {
    if (body && body.byteLength > MAX_EVENT_BYTES * 64)
      throw new StratusError("STRATUS_E_EVENT_TOO_LARGE", `the request body is over ${MAX_EVENT_BYTES * 64} bytes`);
    return body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8") : "";
  };
  const parse = (): unknown => {
    try {
      return JSON.parse(text());
    } catch (err) {
      throw new StratusError("STRATUS_E_EVENT_INVALID", `the body is not valid JSON (${(err as Error).message}); send a CloudEvent in JSON`);
    }
  };
  if (type === "application/cloudevents+json") return [checkEvent(parse(), now)];
  if (type === "application/cloudevents-batch+json") {
    const all = parse();
    if (!Array.isArray(all)) throw new StratusError("STRATUS_E_EVENT_INVALID", "a CloudEvents batch must be a JSON array of events");
    if (all.length > MAX_BATCH_EVENTS) {
      throw new StratusError(
        "STRATUS_E_EVENT_TOO_LARGE",
        `a CloudEvents batch holds ${all.length} events; the limit is ${MAX_BATCH_EVENTS} per request: send several batches`,
      );
    }
    return all.map((e) => checkEvent(e, now));
  }
  if (header(headers, "ce-specversion") === undefined) {
    throw new StratusError(
      "STRATUS_E_EVENT_INVALID",
      `not a CloudEvent: send Content-Type application/cloudevents+json (structured mode) or ce-specversion, ce-id, ce-source and ce-type headers (binary mode); got Content-Type "${type || "none"}" and no ce- headers`,
    );
  }
  const ev: Record<string, unknown> = {};
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.startsWith("ce-")) ev[name.slice(3)] = decodeURIComponent(headers[i + 1]!);
  }
  if (type) ev["datacontenttype"] = header(headers, "content-type");
  if (body && body.byteLength > 0) {
    if (type === "" || type === "application/json" || type.endsWith("+json")) ev["data"] = parse();
    else if (type.startsWith("text/")) ev["data"] = text();
    else ev["data_base64"] = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("base64");
  }
  return [checkEvent(ev, now)];
}
