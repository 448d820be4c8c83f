/** Runs async work over a list with a bound on how much runs at once. */

/**
 * Maps `items` through `fn` with at most `limit` calls in flight; the results keep the items'
 * order. A rejection rejects the whole map (as Promise.all), after the calls in flight settle.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane);
  const settled = await Promise.allSettled(lanes);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  return out;
}
