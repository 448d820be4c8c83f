// The host <-> isolate boundary in-process (real isolates, the in-process gateway): the watchdog
// stops an isolate that spins after its response or while its module is being checked, and console
// lines and service calls carry the id of the request that made them when requests share an instance.
import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import { describe, test } from "node:test";
import pino from "pino";
import { tempStack } from "../../test/helpers/stack.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { startStack } from "../testing/index.ts";
import { tempProject } from "../../test/helpers/project.ts";

describe("the watchdog reaches an isolate in any state", () => {
  test("a promise chain left spinning after a bytes body is stopped at limits.cpu (STRATUS_E_CPU_LIMIT) and the service is served again", async () => {
    const s = await tempStack({
      "stratus.yaml": `name: t\nservices:\n  spin:\n    entry: spin.js\n    routes: ["GET /spin"]\n    limits: { cpu: 100ms }\n  good:\n    entry: good.js\n    routes: ["GET /good"]\n`,
      "spin.js": `export default { fetch(request) {
        if (new URL(request.url).searchParams.has("calm")) return new Response("calm");
        const spin = () => void Promise.resolve().then(spin);
        void Promise.resolve().then(spin);
        return new Response(new Uint8Array([1, 2, 3]));
      } };`,
      "good.js": `export default { fetch: () => new Response("good") };`,
    });
    const limits: { service: string; code: string }[] = [];
    const onLimit = (m: unknown): void => void limits.push(m as { service: string; code: string });
    diagnostics.subscribe("stratus:limit", onLimit);
    try {
      const r = await s.fetch("/spin");
      assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [1, 2, 3]);
      await waitFor(() => limits.some((l) => l.service === "spin" && l.code === "STRATUS_E_CPU_LIMIT"), 10_000, "the spinning instance to be stopped");
      assert.equal(await (await s.fetch("/good")).text(), "good");
      assert.equal(await (await s.fetch("/spin?calm")).text(), "calm");
    } finally {
      diagnostics.unsubscribe("stratus:limit", onLimit);
      await s.close();
    }
  });

  test("a handler getter that never returns is cut off while the module is checked (STRATUS_E_CPU_LIMIT), not on the host's thread", async () => {
    const project = tempProject({
      "stratus.yaml": `name: t\nservices:\n  trap:\n    entry: trap.js\n    routes: ["GET /"]\n    limits: { cpu: 100ms }\n`,
      "trap.js": `export default { get fetch() { for (;;) {} } };`,
    });
    try {
      await assert.rejects(startStack(project.dir), (err: { code?: string; message?: string }) => {
        assert.equal(err.code, "STRATUS_E_CPU_LIMIT");
        assert.match(err.message ?? "", /service "trap" .* failed while loading/);
        return true;
      });
    } finally {
      project.remove();
    }
  });
});

describe("task replies are hostile input too", () => {
  test("a forged task reply fails the batch with STRATUS_E_BAD_RESPONSE (retried event by event), and the next batch is served", async () => {
    const s = await tempStack({
      "stratus.yaml": `name: t\ntopics: { ping: {} }\nservices:\n  sub:\n    entry: sub.js\n    subscribe: { ping: {} }\n`,
      // Rewrites the reply batch (the dispatcher's realm is the function's) to claim one outcome for two events.
      "sub.js": `const realJoin = Array.prototype.join;
      export default { event(ev) {
        if (ev.data === "forge") Array.prototype.join = function (sep) {
          const out = realJoin.call(this, sep);
          const m = sep === "" ? /^(\\d+)\\x01\\d+\\x01T\\n/.exec(out) : null;
          if (!m) return out;
          Array.prototype.join = realJoin;
          const p = "T\\n[[0]]";
          return m[1] + "\\x01" + p.length + "\\x01" + p;
        };
      } };`,
    });
    try {
      const event = (data: string, id: string): string => JSON.stringify({ specversion: "1.0", id, source: "test", type: "ping", data });
      const forged = await s.host.runtime.runEvents("sub", [event("forge", "1"), event("x", "2")]);
      assert.equal(forged.length, 2);
      for (const o of forged) {
        assert.equal(o.ok, false);
        assert.equal(o.code, "STRATUS_E_BAD_RESPONSE");
        assert.equal(o.batch, true);
        assert.match(o.message ?? "", /service "sub" reported its work in a form the platform cannot read: a task reply has 1 outcomes for 2 units/);
      }
      assert.deepEqual(
        (await s.host.runtime.runEvents("sub", [event("x", "3")])).map((o) => o.ok),
        [true],
      );
    } finally {
      await s.close();
    }
  });
});

interface Line {
  msg: string;
  source?: string;
  service?: string;
  requestId?: string;
  requestIds?: string[];
}

describe("request ids when requests share an instance (scale.concurrency > 1)", () => {
  test("console lines and service calls name the request that made them, and never a wrong one", async () => {
    const lines: Line[] = [];
    const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
    const project = tempProject({
      "stratus.yaml": `name: t
services:
  front:
    entry: front.js
    routes: ["GET /front"]
    scale: { max: 1, concurrency: 8 }
    bindings:
      KV: { kv: {} }
      BACK: { service: back }
  back:
    entry: back.js
`,
      "front.js": `export default { async fetch(request, env) {
        const tag = new URL(request.url).searchParams.get("tag");
        console.log("sync " + tag);
        await env.KV.get("k");
        console.log("after-io " + tag);
        await env.BACK.fetch("http://back/" + tag);
        console.log("after-call " + tag);
        await new Promise((r) => setTimeout(r, 5));
        console.log("after-timer " + tag);
        return new Response(tag);
      } };`,
      "back.js": `export default { fetch(request) { console.log("back " + new URL(request.url).pathname.slice(1)); return new Response("ok"); } };`,
    });
    const s = await startStack(project.dir, { logger });
    try {
      const tags = ["a", "b", "c", "d"];
      const bodies = await Promise.all(tags.map((t) => s.fetch(`/front?tag=${t}`, { headers: { "x-request-id": `req-${t}` } }).then((r) => r.text())));
      assert.deepEqual(bodies, tags);
      const consoleLines = lines.filter((l) => l.source === "console");
      for (const t of tags) {
        const own = `req-${t}`;
        // Exact: the synchronous part, the continuation of the request's own I/O, and the callee.
        for (const text of [`sync ${t}`, `after-io ${t}`, `after-call ${t}`, `back ${t}`]) {
          const l = consoleLines.find((x) => x.msg === text);
          assert.ok(l, `a console line "${text}"`);
          assert.equal(l.requestId, own, `"${text}" carries its own request id: ${JSON.stringify(l)}`);
        }
        // After a timer the isolate cannot tell: the line names every request in flight, its own among them.
        const late = consoleLines.find((x) => x.msg === `after-timer ${t}`);
        assert.ok(late);
        assert.ok(late.requestId === own || (late.requestIds ?? []).includes(own), JSON.stringify(late));
      }
      for (const t of tags) {
        const call = lines.find((l) => l.msg === "service call from front" && l.requestId === `req-${t}`);
        assert.ok(call, `the service call made by req-${t} is logged under its id`);
      }
    } finally {
      await s.close();
      project.remove();
    }
  });
});
