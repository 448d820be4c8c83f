/** A steady load generator for tests that switch versions under traffic. */

/** What a load run saw: non-200 answers and how many requests were served. */
export interface LoadResult {
  failures: string[];
  served: number;
}

/** Sends GET `url` from `connections` loops until the returned stop() is awaited. */
export function steadyLoad(url: string, connections = 4): { stop: () => Promise<LoadResult> } {
  let stopped = false;
  const result: LoadResult = { failures: [], served: 0 };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const res = await fetch(url);
      const text = await res.text();
      if (res.status !== 200) result.failures.push(`${res.status} ${text}`);
      else result.served++;
    }
  };
  const loops = Array.from({ length: connections }, loop);
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return result;
    },
  };
}
