// CPU-fair admission (fairness.ts), through a real runtime with real isolates. The CPU readings
// come from a meter the test drives (how much CPU each service's isolates used, whether the
// machine is saturated, how much time passed), so what is held and when does not depend on how
// busy the machine running the tests is. Nothing here waits on a timer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadStack, type ResolvedService } from "../config/index.ts";
import { SqliteStateProvider } from "../state/index.ts";
import { silentLogger } from "../telemetry/index.ts";
import { tempProject, type TempProject } from "../../test/helpers/project.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { MAX_HOLD_MS, type CpuMeter, type CpuReport } from "./fairness.ts";
import { Runtime } from "./runtime.ts";

/** A meter the test drives: time, the machine's idle share, and the CPU of each service's isolates. */
class FakeMeter implements CpuMeter {
  at = 1n;
  cpuOf = new Map<string, bigint>();
  saturated = true;
  broken = false;
  #idle = 0;
  #total = 0;
  now(): bigint {
    return this.at;
  }
  processCpu(): bigint {
    return 0n;
  }
  machine(): { idle: number; total: number } {
    if (this.broken) throw new Error("the readings are gone");
    this.#total += 1000;
    if (!this.saturated) this.#idle += 1000;
    return { idle: this.#idle, total: this.#total };
  }
  *isolates(pool: { service: { name: string } }): Iterable<[object, bigint]> {
    yield [pool, this.cpuOf.get(pool.service.name) ?? 0n];
  }
  /** `ms` of CPU burnt by `service`'s isolates and a 100 ms window passed. */
  burn(service: string, ms: number): void {
    this.cpuOf.set(service, (this.cpuOf.get(service) ?? 0n) + BigInt(ms * 1e6));
    this.at += 100_000_000n;
  }
}

for (const concurrency of [1, 64]) {
  describe(`CPU-fair admission at scale.concurrency ${concurrency}`, () => {
    let project: TempProject;
    let services: readonly ResolvedService[];
    let runtime: Runtime;
    let state: SqliteStateProvider;
    let meter: FakeMeter;
    let now = 1_000_000;
    let faults: string[];

    before(() => {
      const svc = (name: string): string =>
        `  ${name}:\n    entry: ${name}.js\n    routes: ["GET /${name}"]\n    scale: { max: 2, concurrency: ${concurrency}, queue: 50 }\n    limits: { cpu: 50ms }\n`;
      project = tempProject({
        "stratus.yaml": `name: t\nservices:\n${svc("heavy")}${svc("light")}`,
        "heavy.js": "export default {}",
        "light.js": "export default {}",
      });
      services = loadStack(project.dir).services;
    });

    after(() => project.remove());

    async function start(): Promise<void> {
      meter = new FakeMeter();
      faults = [];
      state = new SqliteStateProvider({ dir: null });
      const logger = silentLogger();
      logger.warn = ((_o: unknown, msg: string) => void faults.push(msg)) as typeof logger.warn;
      runtime = new Runtime({ state, logger, spares: 0, clock: () => now, fairness: { mode: "admission", cores: 1, meter } });
      for (const s of services) {
        const code = `var __stratus_module = (() => ({ default: { fetch(request) {
          if (request.url.endsWith("/loop")) for (;;);
          return new Response("${s.name}");
        } } }))();`;
        await runtime.deploy(s, { code, hash: s.name.padEnd(64, "0") });
      }
      runtime.sweep(); // the first reading starts the window
    }

    async function stop(): Promise<void> {
      await runtime.close();
      await state.close();
    }

    const get = (service: string, id: string): Promise<string> =>
      runtime
        .invoke(service, { method: "GET", url: `http://x/${service}`, headers: [], body: null, requestId: id })
        .then((inv) => `${inv.result.status} ${String(inv.result.body)}`);
    const queued = (service: string): number => runtime.status().find((s) => s.service === service)!.queued;

    /** Both services had work in the window; heavy burnt `ms` of CPU in it, light none. */
    async function window(ms: number): Promise<void> {
      assert.equal(await get("light", "l"), "200 light");
      meter.burn("heavy", ms);
      runtime.sweep();
    }

    test("a service over its share is held: its work waits, a light service's goes ahead, and the held work completes once the other goes quiet", async () => {
      await start();
      try {
        assert.equal(await get("heavy", "h0"), "200 heavy");
        await window(500); // 500 ms of CPU in a 100 ms window on one core, beside a light service
        assert.deepEqual(runtime.cpuHeld, ["heavy"]);

        const done: string[] = [];
        const heavy = Array.from({ length: 5 }, (_, i) => get("heavy", `h${i + 1}`).then((r) => (done.push(`heavy ${r}`), r)));
        assert.equal(queued("heavy"), 5, "held with free slots: the work waits in the queue");
        assert.equal(await get("light", "l1"), "200 light", "the light service is admitted at once");
        done.push("light");
        assert.equal(queued("heavy"), 5);

        // The light service has no more work: after a window without any, nobody waits for the
        // CPU, so the hold ends.
        meter.at += 100_000_000n;
        runtime.sweep();
        assert.deepEqual(runtime.cpuHeld, ["heavy"], "light had work in this window");
        meter.at += 100_000_000n;
        runtime.sweep();
        assert.deepEqual(runtime.cpuHeld, []);
        assert.deepEqual(await Promise.all(heavy), Array(5).fill("200 heavy"), "nothing held is lost or refused");
        assert.equal(done[0], "light");
      } finally {
        await stop();
      }
    });

    test("the light service is never held, and a hold lasts at most MAX_HOLD_MS however large the debt", async () => {
      await start();
      try {
        await get("heavy", "h0");
        await window(5000);
        assert.deepEqual(runtime.cpuHeld, ["heavy"]);
        const held = get("heavy", "h1");
        // Still over its share in every window, beside a light service that keeps busy.
        for (let t = 0; t < MAX_HOLD_MS - 100; t += 100) {
          now += 100;
          await window(500);
          assert.deepEqual(runtime.cpuHeld, ["heavy"]);
          assert.equal(queued("heavy"), 1);
        }
        now += 100;
        await window(500);
        assert.deepEqual(runtime.cpuHeld, [], "held for MAX_HOLD_MS: let in");
        assert.equal(await held, "200 heavy");
      } finally {
        await stop();
      }
    });

    test("a debt is repaid while the service keeps under its share, and nothing is held when the machine is not saturated", async () => {
      await start();
      try {
        await get("heavy", "h0");
        await window(150); // 100 ms over its share (half of one core, beside light)
        assert.deepEqual(runtime.cpuHeld, ["heavy"]);
        const held = get("heavy", "h1");
        await window(0); // repays 50 ms (its share of the window)
        assert.deepEqual(runtime.cpuHeld, ["heavy"]);
        await window(0);
        assert.deepEqual(runtime.cpuHeld, []);
        assert.equal(await held, "200 heavy");

        meter.saturated = false;
        await window(5000);
        assert.deepEqual(runtime.cpuHeld, [], "spare CPU: burning it harms no one");
      } finally {
        await stop();
      }
    });

    test("the judgement is node-wide: a service heavy in another worker is held here, where it looks light", async () => {
      await start();
      const sent: CpuReport[] = [];
      // Another worker where heavy burns 5 cores' worth and light has work too (their sum, as the supervisor sends it).
      let others: CpuReport | null = { host: 0, services: { heavy: [5, 1], light: [0, 1] } };
      runtime.shareCpu({ exchange: (mine) => (sent.push(mine), others) });
      try {
        meter.at += 100_000_000n; // a window in which this worker's heavy and light used no CPU at all
        runtime.sweep();
        assert.deepEqual(runtime.cpuHeld, ["heavy"]);
        assert.deepEqual(sent.at(-1)!.services["heavy"], [0, 0], "this worker reported its own figures");
        const held = get("heavy", "h1");
        assert.equal(queued("heavy"), 1);
        others = null; // the other worker is gone: this worker's own figures are the node's
        meter.at += 100_000_000n;
        runtime.sweep();
        assert.deepEqual(runtime.cpuHeld, []);
        assert.equal(await held, "200 heavy");
      } finally {
        await stop();
      }
    });

    test("work held while its service is paused for a crash loop goes in or gets the pause's 503 when the hold ends, never a wait", async () => {
      await start();
      try {
        await get("heavy", "h0");
        // Five instances stopped for limits.cpu: new instances of heavy are paused (on the test's clock, until it moves).
        for (let i = 0; i < 5; i++) {
          const r = await runtime.invoke("heavy", { method: "GET", url: "http://x/heavy/loop", headers: [], body: null, requestId: `loop${i}` });
          assert.equal(r.result.error?.code, "STRATUS_E_CPU_LIMIT");
        }
        await window(500);
        assert.deepEqual(runtime.cpuHeld, ["heavy"]);
        const held = get("heavy", "h1");
        assert.equal(queued("heavy"), 1);
        meter.saturated = false; // spare CPU: the hold ends
        meter.at += 100_000_000n;
        runtime.sweep();
        assert.equal(queued("heavy"), 0, "nothing is left waiting for an instance that may not start");
        // An instance the autoscaler started before the pause serves it; with none, the pause answers.
        assert.match(await held, /^200 heavy$|^503 .*STRATUS_E_SERVICE_UNAVAILABLE.*paused/);
      } finally {
        await stop();
      }
    });

    test("a fault in the accounting turns fairness off: held work goes in and nothing is held again", async () => {
      await start();
      try {
        await get("heavy", "h0");
        await window(500);
        const held = Array.from({ length: 3 }, (_, i) => get("heavy", `h${i + 1}`));
        assert.equal(queued("heavy"), 3);
        meter.broken = true;
        meter.at += 100_000_000n;
        runtime.sweep();
        assert.deepEqual(await Promise.all(held), Array(3).fill("200 heavy"));
        assert.equal(faults.length, 1);
        assert.match(faults[0]!, /CPU fairness failed and is off/);
        meter.broken = false;
        await window(5000);
        assert.deepEqual(runtime.cpuHeld, []);
        assert.equal(await get("heavy", "h4"), "200 heavy");
        await waitFor(() => queued("heavy") === 0, 1000, "nothing queued");
      } finally {
        await stop();
      }
    });
  });
}
