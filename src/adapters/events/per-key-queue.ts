interface Tail {
  promise: Promise<void>;
  pending: number;
}

/**
 * Runs tasks one after another per key (a call's events stay in order however long one takes
 * to load), while different keys run side by side. A key's entry is removed once it is idle.
 */
export class PerKeyQueue {
  private readonly tails = new Map<string, Tail>();

  constructor(private readonly maxPendingPerKey = 1000) {}

  /**
   * Queues `task` after the key's earlier ones; false (and the task is not run) when the key
   * already has maxPendingPerKey waiting, so one stuck key cannot hold memory without bound.
   */
  run(key: string, task: () => Promise<void>): boolean {
    const tail = this.tails.get(key) ?? { promise: Promise.resolve(), pending: 0 };
    if (tail.pending >= this.maxPendingPerKey) return false;
    tail.pending++;
    this.tails.set(key, tail);
    tail.promise = tail.promise
      .then(task)
      // A task reports its own failures; one that throws must not stop the key's later tasks.
      .catch(() => {})
      .finally(() => {
        tail.pending--;
        if (tail.pending === 0 && this.tails.get(key) === tail) this.tails.delete(key);
      });
    return true;
  }

  /** Keys with tasks queued or running. */
  get size(): number {
    return this.tails.size;
  }

  /** Settles once every task queued so far has settled. */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()].map((tail) => tail.promise));
  }
}
