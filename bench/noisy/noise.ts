// The neighbour's load, in a process of its own so it cannot slow the measuring one:
// node bench/noisy/noise.ts URL SECONDS [burn]. 20 connections of CPU-burning requests, 2 of
// requests that loop forever and 2 of requests that exhaust memory, all at once, flat out (with
// "burn", only the CPU-burning ones: no crash-loop pause, the CPU stays saturated by the burns). Prints the
// burning requests answered and failed per second as JSON (what the neighbour still got done).
import autocannon from "autocannon";

const [base, seconds, only] = [process.argv[2]!, Number(process.argv[3] ?? 10), process.argv[4]];
const run = (path: string, connections: number): Promise<autocannon.Result> =>
  autocannon({ url: `${base}${path}`, connections, duration: seconds, timeout: 5 });
const [burn] = await Promise.all([run("/a/burn", 20), ...(only === "burn" ? [] : [run("/a/loop", 2), run("/a/oom", 2)])]);
process.stdout.write(JSON.stringify({ ok: burn["2xx"] / seconds, failed: (burn.non2xx + burn.errors) / seconds }));
process.exit(0);
