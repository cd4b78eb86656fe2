import { describeError } from "../../domain/errors.ts";
import type { Logger } from "../ports/index.ts";

/**
 * Writes a live call started and did not wait for: a failure is logged, never thrown into the
 * audio path, and the call's end waits for all of them to settle.
 */
export class PendingWrites {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly log: Logger) {}

  track(write: Promise<unknown>, failure: string): void {
    const tracked = write.catch((error: unknown) => {
      this.log.error({ err: describeError(error) }, failure);
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
