// The per-request limits when many requests share an instance (the default scale.concurrency):
// CPU-heavy requests that arrive together are not mistaken for a spinning isolate, a handler that
// spins is still stopped at limits.cpu, and a request that never answers gets its 504 at
// limits.timeout while the requests sharing its instance are served.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { tempStack } from "../../test/helpers/stack.ts";

describe("limits at high concurrency", () => {
  test("a burst of CPU-heavy requests on one instance, together far over limits.cpu, are all served", async () => {
    // Each request burns about 20 ms of CPU in its handler: 30 of them in one batch are 600 ms
    // without a reply crossing, six times limits.cpu.
    const s = await tempStack({
      "stratus.yaml": `name: t\nservices:\n  heavy:\n    entry: heavy.js\n    routes: ["GET /"]\n    scale: { max: 1, concurrency: 64 }\n    limits: { cpu: 100ms }\n`,
      "heavy.js": `export default { fetch() {
        const end = Date.now() + 20;
        let x = 0;
        while (Date.now() < end) x++;
        return new Response("ok " + (x > 0));
      } };`,
    });
    try {
      const statuses = await Promise.all(Array.from({ length: 30 }, () => s.fetch("/").then(async (r) => `${r.status} ${await r.text()}`)));
      assert.deepEqual(
        statuses.filter((x) => x !== "200 ok true"),
        [],
      );
    } finally {
      await s.close();
    }
  });

  test("a handler that spins forever is stopped at limits.cpu while sharing its instance (503), and the service serves again", async () => {
    const s = await tempStack({
      "stratus.yaml": `name: t\nservices:\n  spin:\n    entry: spin.js\n    routes: ["GET /:what"]\n    scale: { max: 1, concurrency: 64 }\n    limits: { cpu: 100ms }\n`,
      "spin.js": `export default { async fetch(request) {
        if (request.url.endsWith("/spin")) for (;;) {}
        await new Promise((r) => setTimeout(r, 5));
        return new Response("fine");
      } };`,
    });
    try {
      const [spun, ...others] = await Promise.all([s.fetch("/spin"), ...Array.from({ length: 10 }, () => s.fetch("/calm"))]);
      assert.equal(spun.status, 503);
      assert.equal(((await spun.json()) as { error: { code: string } }).error.code, "STRATUS_E_CPU_LIMIT");
      // Requests that shared the instance when it was stopped fail with it (as in Workers).
      for (const r of others) assert.ok(r.status === 200 || r.status === 503, String(r.status));
      assert.equal(await (await s.fetch("/calm")).text(), "fine");
    } finally {
      await s.close();
    }
  });

  test("a request that never answers gets 504 at limits.timeout; the requests beside it on the instance are served", async () => {
    const s = await tempStack({
      "stratus.yaml": `name: t\nservices:\n  hang:\n    entry: hang.js\n    routes: ["GET /:what"]\n    scale: { max: 1, concurrency: 64 }\n    limits: { timeout: 300ms }\n`,
      "hang.js": `export default { async fetch(request) {
        if (request.url.endsWith("/hang")) await new Promise(() => {});
        await new Promise((r) => setTimeout(r, 20));
        return new Response("fine");
      } };`,
    });
    try {
      const [hung, ...others] = await Promise.all([s.fetch("/hang"), ...Array.from({ length: 20 }, () => s.fetch("/calm"))]);
      assert.equal(hung.status, 504);
      assert.equal(((await hung.json()) as { error: { code: string } }).error.code, "STRATUS_E_TIMEOUT");
      assert.deepEqual(
        others.map((r) => r.status),
        others.map(() => 200),
      );
    } finally {
      await s.close();
    }
  });
});
