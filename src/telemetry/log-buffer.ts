/**
 * The last log lines of a process, kept in memory for `stratus logs` (a node's control API reads
 * them from every worker). Lines are the logger's JSON records, already redacted.
 */

/** A ring of recent JSON log lines. */
export class LogBuffer {
  readonly #max: number;
  #lines: string[] = [];

  constructor(max = 5000) {
    this.#max = max;
  }

  /** Takes one line (the logger calls this like a stream). */
  write(line: string): boolean {
    this.#lines.push(line.endsWith("\n") ? line.slice(0, -1) : line);
    if (this.#lines.length > this.#max * 1.25) this.#lines = this.#lines.slice(-this.#max);
    return true;
  }

  /** Records at or after `since` (epoch ms), of one service if given, oldest first, the last `limit`. */
  read(opts: { since?: number; service?: string; limit?: number } = {}): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.#lines) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
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
