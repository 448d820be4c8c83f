/**
 * The last log lines of a process, kept in memory for `stratus logs` (a node's control API reads
 * them from every worker). Lines are the logger's JSON records, already redacted. The ring is
 * bounded both in lines and in bytes, so a flood of long lines cannot grow the process.
 */

/** Options of LogBuffer. */
export interface LogBufferOptions {
  /** Most lines kept (default 5,000). */
  maxLines?: number;
  /** Most characters kept, all lines together (default 8 Mi: about 8-16 MiB of memory). */
  maxChars?: number;
  /** Longest line kept; a longer record is replaced by a note saying so (default 64 Ki characters). */
  maxLineChars?: number;
}

/** A ring of recent JSON log lines. */
export class LogBuffer {
  readonly #maxLines: number;
  readonly #maxChars: number;
  readonly #maxLine: number;
  /** Lines from #head on are live; the dead prefix is cut off now and then. */
  #lines: string[] = [];
  #head = 0;
  #chars = 0;

  /** `opts` may be a number: the most lines kept (the old signature). */
  constructor(opts: LogBufferOptions | number = {}) {
    const o = typeof opts === "number" ? { maxLines: opts } : opts;
    this.#maxLines = o.maxLines ?? 5000;
    this.#maxChars = o.maxChars ?? 8 * 1024 * 1024;
    this.#maxLine = o.maxLineChars ?? 64 * 1024;
  }

  /** Takes one line (the logger calls this like a stream). */
  write(line: string): boolean {
    let l = line.endsWith("\n") ? line.slice(0, -1) : line;
    if (l.length > this.#maxLine) l = oversized(l, this.#maxLine);
    this.#lines.push(l);
    this.#chars += l.length;
    while (this.#lines.length - this.#head > this.#maxLines || this.#chars > this.#maxChars) {
      this.#chars -= this.#lines[this.#head]!.length;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
    return true;
  }

  /** Lines held and their total length in characters. */
  get size(): { lines: number; chars: number } {
    return { lines: this.#lines.length - this.#head, chars: this.#chars };
  }

  /** Records at or after `since` (epoch ms), of one service if given, oldest first, the last `limit`. */
  read(opts: { since?: number; service?: string; limit?: number } = {}): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (let i = this.#head; i < this.#lines.length; i++) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(this.#lines[i]!) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (opts.since !== undefined && Number(rec["time"] ?? 0) < opts.since) continue;
      if (opts.service !== undefined && rec["service"] !== opts.service) continue;
      out.push(rec);
    }
    return opts.limit !== undefined ? out.slice(-opts.limit) : out;
  }
}

/**
 * A record too long to keep whole: its level, time, service and request id survive, its message is
 * cut (the record cannot be cut as text: it would no longer be JSON).
 */
function oversized(line: string, max: number): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return JSON.stringify({ msg: `[an unreadable log line of ${line.length} characters was dropped]` });
  }
  const keep: Record<string, unknown> = {};
  for (const k of ["level", "time", "service", "requestId", "requestIds", "source", "code"]) if (k in rec) keep[k] = rec[k];
  const msg = typeof rec["msg"] === "string" ? rec["msg"] : "";
  const room = Math.max(0, max - 512);
  keep["msg"] = msg.length > room ? `${msg.slice(0, room)}… [log record truncated: it was ${line.length} characters]` : msg;
  if (msg.length <= room) keep["truncated"] = `the record was ${line.length} characters; its other fields were dropped`;
  return JSON.stringify(keep);
}
