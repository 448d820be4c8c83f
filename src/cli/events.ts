/** `stratus events ...`: publish, tail, subscriptions, dead letters, redrive and replay on a running node. */
import { type Command, InvalidArgumentError } from "commander";
import type { CloudEvent, SubscriptionInfo } from "../events/index.ts";
import { callControl, controlBase, TOKEN_OPTION, useToken } from "./control-client.ts";

type Out = (line: string) => void;

function table(out: Out, head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows])
    out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
}

function jsonArg(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`--data must be JSON, e.g. '{"orderId":"o-1"}' (a plain word needs quotes: '"hello"'); got ${value}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Adds the `events` command group. */
export function registerEvents(program: Command, out: Out): void {
  const events = program.command("events").description("Topics and subscriptions on a running node: publish, tail, dead letters, redrive, replay");
  const urlOption = ["--url <url>", "control API of the node (default: $STRATUS_URL or http://127.0.0.1:8081)"] as const;
  // Every events command takes --token (a node's control API wants one; dev's does not).
  events.hook("preAction", (_group, action) => useToken(action.opts<{ token?: string }>().token));

  events
    .command("publish")
    .description("Publish one event (a CloudEvent with type = topic, source /cli); prints its id and offset")
    .argument("<topic>", "topic, e.g. order.created")
    .option("-d, --data <json>", "the event's data, as JSON", jsonArg)
    .option("--key <key>", "ordering key")
    .option("--id <id>", "event id (the same id on the same topic is stored once)")
    .option(...urlOption)
    .option(...TOKEN_OPTION)
    .option("--json", "print the result as JSON")
    .action(async (topic: string, o: { data?: unknown; key?: string; id?: string; url?: string; json?: boolean }) => {
      const r = await callControl<{ id: string; seq: number; duplicate: boolean }>(
        controlBase(o.url),
        "POST",
        `/v1/events/topics/${encodeURIComponent(topic)}`,
        {
          data: o.data,
          key: o.key,
          id: o.id,
        },
      );
      out(o.json ? JSON.stringify(r) : `${r.duplicate ? "duplicate of" : "published"} ${topic} id=${r.id} offset=${r.seq}`);
    });

  events
    .command("tail")
    .description("Print a topic's events as they are published (Ctrl-C stops)")
    .argument("<topic>", "topic")
    .option("--from <offset>", "start after this offset (0: from the first retained event); default: only new events")
    .option("--no-follow", "print what is there and exit")
    .option(...urlOption)
    .option(...TOKEN_OPTION)
    .option("--json", "one CloudEvent per line as JSON")
    .action(async (topic: string, o: { from?: string; follow: boolean; url?: string; json?: boolean }) => {
      const base = controlBase(o.url);
      if (o.from !== undefined && !/^\d+$/.test(o.from)) throw new InvalidArgumentError(`--from must be an offset (a whole number), got "${o.from}"`);
      let after: string = o.from ?? (o.follow ? "end" : "0");
      let stop = false;
      process.once("SIGINT", () => (stop = true));
      while (!stop) {
        const r = await callControl<{ events: { seq: number; event: CloudEvent }[]; next: number }>(
          base,
          "GET",
          `/v1/events/topics/${encodeURIComponent(topic)}?after=${after}&limit=500`,
        );
        for (const e of r.events) {
          out(
            o.json
              ? JSON.stringify({ offset: e.seq, ...e.event })
              : `${e.seq}  ${e.event.time ?? ""}  ${e.event.id}  ${e.event.source}${e.event["partitionkey"] ? `  key=${String(e.event["partitionkey"])}` : ""}  ${JSON.stringify(e.event.data ?? null)}`,
          );
        }
        after = String(r.next);
        if (!o.follow) break;
        if (r.events.length === 0) await sleep(250);
      }
    });

  events
    .command("list")
    .description("Subscriptions: cursor, lag, waiting retries, dead letters")
    .option(...urlOption)
    .option(...TOKEN_OPTION)
    .option("--json", "print as JSON")
    .action(async (o: { url?: string; json?: boolean }) => {
      const r = await callControl<{ subscriptions: SubscriptionInfo[] }>(controlBase(o.url), "GET", "/v1/events/subscriptions");
      if (o.json) return out(JSON.stringify(r));
      table(
        out,
        ["subscription", "topic", "offset", "lag", "retries", "dead letters"],
        r.subscriptions.map((s) => [s.name, s.topic, String(s.cursor), String(s.lag), String(s.retries), String(s.dead)]),
      );
    });

  events
    .command("dlq")
    .description("Dead letters of a subscription (service:topic): list, or show one in full")
    .argument("<subscription>", "subscription, e.g. payments:order.created")
    .option("--show <offset>", "print this dead letter in full (event, attempts, last error)")
    .option("--limit <n>", "at most this many", "100")
    .option(...urlOption)
    .option(...TOKEN_OPTION)
    .option("--json", "print as JSON")
    .action(async (sub: string, o: { show?: string; limit: string; url?: string; json?: boolean }) => {
      type Dead = { event: CloudEvent & { seq: number }; attempts: number; error: string; at: number };
      if (o.show !== undefined && !/^\d+$/.test(o.show)) throw new InvalidArgumentError(`--show takes an offset (a whole number), got "${o.show}"`);
      const after = o.show !== undefined ? Number(o.show) - 1 : 0;
      const r = await callControl<{ deadLetters: Dead[] }>(
        controlBase(o.url),
        "GET",
        `/v1/events/subscriptions/${encodeURIComponent(sub)}/dead?after=${after}&limit=${o.show !== undefined ? 1 : Number(o.limit) || 100}`,
      );
      if (o.show !== undefined) {
        const d = r.deadLetters.find((x) => x.event.seq === Number(o.show));
        if (!d) throw new InvalidArgumentError(`no dead letter at offset ${o.show} in ${sub}; list them with "stratus events dlq ${sub}"`);
        return out(o.json ? JSON.stringify(d) : JSON.stringify(d, null, 2));
      }
      if (o.json) return out(JSON.stringify(r));
      if (r.deadLetters.length === 0) return out(`no dead letters in ${sub}`);
      table(
        out,
        ["offset", "id", "attempts", "dead since", "last error"],
        r.deadLetters.map((d) => [String(d.event.seq), d.event.id, String(d.attempts), new Date(d.at).toISOString(), d.error.split("\n")[0]!.slice(0, 100)]),
      );
    });

  events
    .command("redrive")
    .description("Send a subscription's dead letters (all, or --offset ones) back for delivery")
    .argument("<subscription>", "subscription, e.g. payments:order.created")
    .option("--offset <offsets...>", "only these dead letters")
    .option(...urlOption)
    .option(...TOKEN_OPTION)
    .option("--json", "print as JSON")
    .action(async (sub: string, o: { offset?: string[]; url?: string; json?: boolean }) => {
      const seqs = o.offset?.map((s) => {
        if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`--offset takes whole numbers, got "${s}"`);
        return Number(s);
      });
      const r = await callControl<{ redriven: number }>(
        controlBase(o.url),
        "POST",
        `/v1/events/subscriptions/${encodeURIComponent(sub)}/redrive`,
        seqs ? { seqs } : {},
      );
      out(o.json ? JSON.stringify(r) : `redrove ${r.redriven} dead letter${r.redriven === 1 ? "" : "s"} of ${sub}`);
    });

  events
    .command("replay")
    .description("Deliver a subscription's topic again from an offset or a time")
    .argument("<subscription>", "subscription, e.g. payments:order.created")
    .requiredOption("--from <offset|time>", "the first offset to deliver again, or a time such as 2030-01-01T12:00:00Z")
    .option(...urlOption)
    .option(...TOKEN_OPTION)
    .option("--json", "print as JSON")
    .action(async (sub: string, o: { from: string; url?: string; json?: boolean }) => {
      const r = await callControl<{ cursor: number }>(controlBase(o.url), "POST", `/v1/events/subscriptions/${encodeURIComponent(sub)}/replay`, {
        from: o.from,
      });
      out(o.json ? JSON.stringify(r) : `${sub} replays from offset ${r.cursor + 1}`);
    });
}
