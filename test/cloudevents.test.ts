// Interop with the CloudEvents JavaScript SDK (the `cloudevents` package) as a real client over
// HTTP: binary and structured content modes in, and events out that the SDK accepts as valid.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CloudEvent, HTTP, Mode, emitterFor, httpTransport } from "cloudevents";
import { startStack, type TestStack } from "../src/testing/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let project: TempProject;
let stack: TestStack;
let base: string;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: ce
topics:
  sensor.reading: { ingest: true }
services:
  log:
    entry: log.ts
    routes: ["GET /got"]
    bindings: { KV: { kv: {} } }
    subscribe:
      sensor.reading: {}
`,
    "log.ts": `
type KV = { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void>; list(o: { prefix: string }): Promise<{ keys: { name: string }[] }> };
export default {
  async fetch(_req: Request, env: { KV: KV }): Promise<Response> {
    const { keys } = await env.KV.list({ prefix: "ev:" });
    return Response.json(await Promise.all(keys.map(async (k) => JSON.parse((await env.KV.get(k.name))!))));
  },
  async event(event: { id: string }, env: { KV: KV }): Promise<void> {
    await env.KV.put("ev:" + event.id, JSON.stringify(event));
  },
};
`,
  });
  stack = await startStack(project.dir);
  const addr = await stack.host.gateway.listen(0, "127.0.0.1");
  base = `http://127.0.0.1:${addr.port}`;
});

after(async () => {
  await stack.close();
  project.remove();
});

test("the CloudEvents SDK's HTTP emitter is accepted in binary and structured mode; handlers get events the SDK validates", async () => {
  const binary = emitterFor(httpTransport(`${base}/_stratus/events`), { mode: Mode.BINARY });
  const structured = emitterFor(httpTransport(`${base}/_stratus/events`), { mode: Mode.STRUCTURED });
  await binary(new CloudEvent({ id: "b-1", source: "/sensors/7", type: "sensor.reading", subject: "room-1", data: { celsius: 21.5 } }));
  await structured(new CloudEvent({ id: "s-1", source: "/sensors/8", type: "sensor.reading", data: { celsius: 19 }, partitionkey: "room-2" }));
  await stack.host.events.drain();
  const got = (await (await fetch(`${base}/got`)).json()) as Record<string, unknown>[];
  assert.deepEqual(
    got.map((e) => [e["id"], e["source"], (e["data"] as { celsius: number }).celsius]),
    [
      ["b-1", "/sensors/7", 21.5],
      ["s-1", "/sensors/8", 19],
    ],
  );
  assert.equal(got[0]!["subject"], "room-1");
  for (const e of got) {
    const ce = new CloudEvent(e); // throws if it is not a valid CloudEvent
    assert.equal(ce.validate(), true);
    assert.equal(ce.type, "sensor.reading");
  }
});

test("the SDK's HTTP binding reads what tail gives back, and a malformed event is refused with the reason", async () => {
  const rows = await stack.host.events.tail("sensor.reading", 0);
  const message = HTTP.structured(new CloudEvent(rows[0]!.event as never));
  const again = await fetch(`${base}/_stratus/events`, { method: "POST", headers: message.headers as Record<string, string>, body: message.body as string });
  assert.equal(again.status, 202);
  const accepted = (await again.json()) as { accepted: { duplicate: boolean }[] };
  assert.equal(accepted.accepted[0]!.duplicate, true, "same id on the same topic: stored once");
  const bad = await fetch(`${base}/_stratus/events`, {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify({ specversion: "0.3", id: "x", source: "/x", type: "sensor.reading" }),
  });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /specversion "0\.3" is not supported/);
});
