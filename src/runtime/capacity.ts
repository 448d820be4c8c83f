/**
 * A node-wide budget of instances per service. With several worker processes, each pool asks the
 * supervisor before starting an instance, so `scale.max` holds for the whole node; in one process
 * the pool's own count is the whole story and every request is granted.
 */
export interface Capacity {
  /** Asks for one instance of `service`; resolves false when the node is at its scale.max. */
  take(service: string): Promise<boolean>;
  /** Gives one back (the instance was released, replaced or died). */
  give(service: string): void;
}

/** The budget of a single process: everything is granted. */
export const UNLIMITED: Capacity = {
  take: () => Promise.resolve(true),
  give: () => undefined,
};
