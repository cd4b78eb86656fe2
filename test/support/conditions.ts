/** Resolves promises when a condition over mutable state becomes true. */
export class Conditions {
  private readonly pending = new Set<() => void>();

  waitFor<T>(check: () => T | undefined, timeoutMs: number, label: string): Promise<T> {
    const first = check();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const probe = () => {
        const v = check();
        if (v === undefined) return;
        this.pending.delete(probe);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.pending.delete(probe);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}`));
      }, timeoutMs);
      this.pending.add(probe);
    });
  }

  notify(): void {
    if (this.pending.size === 0) return;
    for (const probe of [...this.pending]) probe();
  }
}
