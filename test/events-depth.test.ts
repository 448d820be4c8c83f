// The depth of an event chain: each handling's publishes carry one more (stratusdepth), counted per
// event even when events of different depths are delivered together.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ManualClock, startStack, type TestStack } from "../src/testing/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let project: TempProject;
let stack: TestStack;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: depth
topics:
  work: {}
  out: {}
services:
  relay:
    entry: relay.ts
    routes: ["GET /relay/:n"]
    bindings: { EV: { publish: [out] }, KV: { kv: {} } }
    subscribe: { work: { maxAttempts: 1 } }
`,
    "relay.ts": `
type KV = { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void> };
type Env = { EV: { publish(t: string, d: unknown): Promise<unknown> }; KV: KV };
export default {
  async fetch(_req: Request, env: Env, ctx: { params: { n: string } }): Promise<Response> {
    return new Response((await env.KV.get(ctx.params.n)) ?? "");
  },
  async event(ev: { data: { n: string } }, env: Env): Promise<void> {
    try {
      await env.EV.publish("out", { from: ev.data.n });
      await env.KV.put(ev.data.n, "published");
    } catch (e) {
      await env.KV.put(ev.data.n, (e as { code: string }).code);
    }
  },
};
`,
  });
  stack = await startStack(project.dir, { clock: new ManualClock() });
});

after(async () => {
  await stack.close();
  project.remove();
});

test("events of different depths handled together: only the one at the limit is refused its publish", async () => {
  const opts = { key: null, id: null, subject: null };
  await Promise.all([
    stack.host.events.publishFromService("relay", "work", '{"n":"deep"}', { ...opts, depth: 8 }),
    stack.host.events.publishFromService("relay", "work", '{"n":"shallow"}', { ...opts, depth: 0 }),
  ]);
  await stack.host.events.drain();
  assert.equal(await (await stack.fetch("/relay/deep")).text(), "STRATUS_E_PUBLISH_DENIED");
  assert.equal(await (await stack.fetch("/relay/shallow")).text(), "published");
  const out = await stack.host.events.tail("out", 0, 10);
  assert.deepEqual(
    out.map((e) => [e.event.data, e.event["stratusdepth"]]),
    [[{ from: "shallow" }, 1]],
  );
});
