/**
 * Isolate threads run at a lower OS priority than the event-loop thread, so the gateway keeps
 * answering (parsing, routing, replying for every service) while some service's code saturates
 * the cores.
 *
 * isolated-vm runs isolates on a pool of its own threads (cores + 1 per process, plus a short-lived
 * thread when all of them are busy); it offers no hook to prioritise them. On Linux, setpriority()
 * with PRIO_PROCESS and a thread id sets that one thread's nice value, and `os.setPriority` is that
 * call: so the runtime looks at /proc/self/task now and then and lowers every isolate thread it
 * finds. They are told apart by name: a thread started by native code inherits the name of the
 * thread that started it ("MainThread" for the event loop's, or the isolate thread's own), while
 * Node's and V8's own helpers carry names of their own (libuv-worker, V8Worker, ...). Raising a
 * nice value back needs privileges, so a thread once lowered stays lowered: isolate threads never
 * run anything else. Elsewhere than Linux this does nothing.
 *
 * Off by default (STRATUS_CPU_FAIRNESS=priority or both turns it on): isolated-vm counts the part
 * of a run still going on in wall time (its cpuTime reads the steady clock while the isolate is
 * running), so an isolate thread kept waiting for a core looks to the watchdog like one spinning.
 * At nice 10 on a machine loaded by other processes, legitimate CPU-heavy requests were cut at
 * limits.cpu (src/runtime/concurrency-limits.test.ts failed 3 runs in 3 at load average 17), and
 * bounding the watchdog by the process's real CPU instead let a loop outlive limits.timeout there.
 */
import { readdirSync, readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** The nice value isolate threads get (the event loop stays at its own, usually 0). */
export const ISOLATE_NICE = 10;

/** Where the threads are listed, and how priorities are read and set (tests pass fakes). */
export interface ThreadTable {
  /** Ids of the process's threads; the process id is the event loop's. */
  threads(): number[];
  /** A thread's name (its comm). */
  name(tid: number): string;
  get(tid: number): number;
  set(tid: number, nice: number): void;
}

/** The table of this process, from /proc/self/task. */
export const PROC_THREADS: ThreadTable = {
  threads: () => readdirSync("/proc/self/task").map(Number),
  name: (tid) => readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim(),
  get: (tid) => getPriority(tid),
  set: (tid, nice) => setPriority(tid, nice),
};

/** Lowers the priority of isolate threads (see the module comment); scan() after isolates ran. */
export class IsolateThreadPriority {
  readonly #table: ThreadTable;
  readonly #nice: number;
  readonly #main: number;
  readonly #onError: (err: unknown) => void;
  /** The event loop's thread name: isolate threads inherit it. */
  #mainName = "";
  /** Threads looked at, and whether each is an isolate thread. */
  readonly #known = new Map<number, boolean>();
  /** Off for good after a failure other than a thread that ended meanwhile. */
  #on: boolean;

  constructor(opts: { table?: ThreadTable; nice?: number; mainTid?: number; onError?: (err: unknown) => void } = {}) {
    this.#table = opts.table ?? PROC_THREADS;
    this.#nice = opts.nice ?? ISOLATE_NICE;
    this.#main = opts.mainTid ?? process.pid;
    this.#onError = opts.onError ?? (() => undefined);
    this.#on = opts.table !== undefined || process.platform === "linux";
  }

  /** False once a failure turned it off (or off Linux). */
  get enabled(): boolean {
    return this.#on;
  }

  /**
   * Lowers every isolate thread not yet lowered; returns how many it lowered. Cheap enough for a
   * 100 ms tick: a thread's name is read once, and a known thread costs one getpriority().
   */
  scan(): number {
    if (!this.#on) return 0;
    let lowered = 0;
    try {
      this.#mainName ||= this.#table.name(this.#main);
      const alive = new Set(this.#table.threads());
      // A thread id that ended may come back as another thread: forget it so it is looked at anew.
      for (const tid of this.#known.keys()) if (!alive.has(tid)) this.#known.delete(tid);
      for (const tid of alive) {
        if (tid === this.#main) continue;
        try {
          let isolate = this.#known.get(tid);
          if (isolate === undefined) this.#known.set(tid, (isolate = this.#table.name(tid) === this.#mainName));
          if (isolate && this.#table.get(tid) < this.#nice) {
            this.#table.set(tid, this.#nice);
            lowered++;
          }
        } catch (err) {
          if (!gone(err)) throw err;
        }
      }
    } catch (err) {
      this.#on = false;
      this.#onError(err);
    }
    return lowered;
  }
}

/** True for the failure of a call on a thread that ended meanwhile (its /proc entry gone, ESRCH). */
function gone(err: unknown): boolean {
  const e = err as { code?: string; info?: { code?: string } };
  return e.code === "ENOENT" || e.code === "ESRCH" || e.info?.code === "ESRCH";
}
