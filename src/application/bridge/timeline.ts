/**
 * The call's timeline: milliseconds of caller audio received. Every offset stored with a call
 * (transcripts, DTMF, answer starts) is measured on it, so they line up with the recording.
 */
export class Timeline {
  private receivedMs = 0;

  get ms(): number {
    return this.receivedMs;
  }

  advance(ms: number): void {
    this.receivedMs += ms;
  }
}
