/**
 * CallSids that arrived through a signed voice webhook. With TWILIO_AUTH_TOKEN set, a media
 * stream for any other callSid is refused. Bounded by age and count so it cannot grow forever.
 */
export class SignedCalls {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 10 * 60_000,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  add(callSid: string): void {
    this.seen.delete(callSid);
    this.seen.set(callSid, this.now());
    this.prune();
  }

  has(callSid: string): boolean {
    const at = this.seen.get(callSid);
    return at !== undefined && this.now() - at <= this.ttlMs;
  }

  private prune(): void {
    const oldest = this.now() - this.ttlMs;
    for (const [sid, at] of this.seen) {
      if (at >= oldest && this.seen.size <= this.maxEntries) break;
      this.seen.delete(sid);
    }
  }
}
