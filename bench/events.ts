// Durable events, publish to handler completion, in one process, three ways in the same run:
//   - Stratus: the embedded SQLite store (fsync per group commit), the handler in a V8 isolate;
//   - Redis Streams (XADD; XREADGROUP + XACK), the handler a plain function;
//   - NATS JetStream (file storage; publish awaits the ack; pull consumer with explicit ack).
// Two phases each: throughput (EVENTS events, at most WINDOW publishes unacknowledged) and
// latency at a fixed rate (RATE events/s for RATE_SECONDS). Prints one JSON object on stdout.
import diagnostics from "node:diagnostics_channel";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeliveryEvent } from "../src/events/index.ts";
import { startStack } from "../src/testing/index.ts";

const EVENTS = Number(process.env["BENCH_EVENTS"] ?? 100_000);
const WINDOW = 2000;
const RATE = 5000;
const RATE_SECONDS = Number(process.env["BENCH_RATE_SECONDS"] ?? 5);
const HERE = new URL(".", import.meta.url).pathname;

/** One system under test: publish resolves once the event is durable; `onHandled` is called per handled event. */
interface Bus {
  publish(n: number): Promise<void>;
  onHandled: (n: number) => void;
  close(): Promise<void>;
}

export interface EventFigures {
  throughput: number;
  p50: number;
  p99: number;
  durability: string;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Publishes EVENTS events with WINDOW in flight; resolves with events/s publish-to-handled. */
async function throughput(bus: Bus, count = EVENTS, base = 0): Promise<number> {
  let handled = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  bus.onHandled = () => {
    if (++handled === count) done();
  };
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await bus.publish(base + next++);
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  await all;
  return count / ((performance.now() - start) / 1000);
}

/** Publishes RATE events/s for RATE_SECONDS; resolves with publish-to-handled latencies (ms). */
async function latency(bus: Bus, base: number): Promise<number[]> {
  const sent = new Map<number, number>();
  const lat: number[] = [];
  const total = RATE * RATE_SECONDS;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  bus.onHandled = (n) => {
    const t = sent.get(n);
    if (t === undefined) return;
    lat.push(performance.now() - t);
    sent.delete(n);
    if (lat.length === total) done();
  };
  const start = performance.now();
  let i = 0;
  const pending: Promise<void>[] = [];
  while (i < total) {
    // Send what is due by now (a 1 ms tick), so the rate holds even when a tick runs late.
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
    for (; i < due; i++) {
      sent.set(base + i, performance.now());
      pending.push(bus.publish(base + i));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  await Promise.race([all, new Promise((r) => setTimeout(r, 30_000))]);
  return lat.sort((a, b) => a - b);
}

async function measure(make: () => Promise<Bus>, durability: string): Promise<EventFigures> {
  const bus = await make();
  try {
    // Warm-up: isolates, JIT, connections.
    await throughput(bus, 10_000, 10_000_000);
    const rate = await throughput(bus);
    const lat = await latency(bus, 20_000_000);
    return { throughput: Math.round(rate), p50: pct(lat, 50), p99: pct(lat, 99), durability };
  } finally {
    await bus.close();
  }
}

async function stratusBus(): Promise<Bus> {
  const dir = mkdtempSync(join(tmpdir(), "stratus-bench-events-"));
  const stack = await startStack(join(HERE, "events-stack"), { stateDir: join(dir, "state"), eventsFile: join(dir, "events.sqlite") });
  const bus: Bus = {
    onHandled: () => undefined,
    publish: async (n) => {
      const r = await stack.host.events.publish("/bench", "bench.tick", { n });
      seqToN.set(r.seq, n);
    },
    close: async () => {
      diagnostics.unsubscribe("stratus:delivery", onDelivery);
      await stack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // The handler can finish before publish() has returned the seq: keep early ones aside.
  const seqToN = new Map<number, number>();
  const early: number[] = [];
  const onDelivery = (m: unknown): void => {
    for (const seq of (m as DeliveryEvent).delivered) {
      const n = seqToN.get(seq);
      if (n === undefined) early.push(seq);
      else {
        seqToN.delete(seq);
        bus.onHandled(n);
      }
    }
    for (let i = early.length - 1; i >= 0; i--) {
      const n = seqToN.get(early[i]!);
      if (n !== undefined) {
        seqToN.delete(early[i]!);
        early.splice(i, 1);
        bus.onHandled(n);
      }
    }
  };
  diagnostics.subscribe("stratus:delivery", onDelivery);
  return bus;
}

async function redisBus(): Promise<Bus> {
  const { Redis } = await import("ioredis");
  const pub = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  const sub = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  await pub.connect();
  await sub.connect();
  const key = `stratus-bench-${process.pid}`;
  await pub.del(key);
  await pub.xgroup("CREATE", key, "g", "0", "MKSTREAM");
  let stop = false;
  const bus: Bus = {
    onHandled: () => undefined,
    publish: async (n) => {
      await pub.xadd(key, "*", "d", JSON.stringify({ specversion: "1.0", id: String(n), source: "/bench", type: "bench.tick", data: { n } }));
    },
    close: async () => {
      stop = true;
      await loop;
      await pub.del(key);
      pub.disconnect();
      sub.disconnect();
    },
  };
  const loop = (async () => {
    while (!stop) {
      const r = (await sub.xreadgroup("GROUP", "g", "c", "COUNT", 500, "BLOCK", 100, "STREAMS", key, ">")) as [string, [string, string[]][]][] | null;
      if (!r) continue;
      const ids: string[] = [];
      for (const [id, fields] of r[0]![1]) {
        const ev = JSON.parse(fields[1]!) as { data: { n: number } };
        ids.push(id);
        bus.onHandled(ev.data.n);
      }
      await sub.xack(key, "g", ...ids);
    }
  })();
  return bus;
}

async function natsBus(): Promise<Bus> {
  const { connect } = await import("@nats-io/transport-node");
  const { jetstream, jetstreamManager, AckPolicy } = await import("@nats-io/jetstream");
  const nc = await connect({ servers: "127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  const name = `stratus_bench_${process.pid}`;
  await jsm.streams.add({ name, subjects: [`${name}.>`] });
  await jsm.consumers.add(name, { durable_name: "c", ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000 });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(name, "c");
  const messages = await consumer.consume({ max_messages: 1000 });
  const bus: Bus = {
    onHandled: () => undefined,
    publish: async (n) => {
      await js.publish(`${name}.tick`, JSON.stringify({ specversion: "1.0", id: String(n), source: "/bench", type: "bench.tick", data: { n } }));
    },
    close: async () => {
      await messages.close();
      await jsm.streams.delete(name);
      await nc.close();
    },
  };
  void (async () => {
    for await (const m of messages) {
      const ev = m.json<{ data: { n: number } }>();
      m.ack();
      bus.onHandled(ev.data.n);
    }
  })();
  return bus;
}

const results: Record<string, EventFigures | { error: string }> = {};
const parts: [string, () => Promise<Bus>, string][] = [
  ["stratus", stratusBus, "SQLite WAL, synchronous=FULL: fsync per group commit before the publish resolves"],
  ["redis", redisBus, "Redis Streams as configured here (appendonly no: in memory, no fsync)"],
  ["nats", natsBus, "JetStream file storage, publish acknowledged by the server (fsync on its sync_interval, default 2 min)"],
];
for (const [name, make, durability] of parts) {
  try {
    results[name] = await measure(make, durability);
  } catch (err) {
    results[name] = { error: err instanceof Error ? err.message : String(err) };
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
process.exit(0);
