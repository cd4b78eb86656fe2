import type { JsonObject } from "../../domain/analytics.ts";
import { FRAME_MS } from "../../domain/audio/telephony-frames.ts";

/**
 * Inbound stream quality from frame timing: RFC 3550 interarrival jitter of our arrival times
 * against Twilio's media timestamps, and gaps where Twilio's timestamps skip frames. Apart from
 * those, the gaps the bridge filled with silence (Twilio leaves out silent frames on some calls,
 * so a filled gap is not necessarily a lost one).
 */
export class NetworkQuality {
  private frames = 0;
  private jitter = 0;
  private lastArrival = 0;
  private lastTimestamp: number | null = null;
  private gaps = 0;
  private missingMs = 0;
  private filledGaps = 0;
  private filledMs = 0;

  frame(arrivalMs: number, timestampMs: number | null): void {
    this.frames++;
    if (timestampMs === null || !Number.isFinite(timestampMs)) return;
    if (this.lastTimestamp !== null) {
      const step = timestampMs - this.lastTimestamp;
      if (step > FRAME_MS * 1.5) {
        this.gaps++;
        this.missingMs += step - FRAME_MS;
      }
      const transit = arrivalMs - this.lastArrival - step;
      this.jitter += (Math.abs(transit) - this.jitter) / 16;
    }
    this.lastArrival = arrivalMs;
    this.lastTimestamp = timestampMs;
  }

  /** `ms` of silence put in for frames that never came; `newGap` when it opens a gap. */
  filled(ms: number, newGap: boolean): void {
    if (newGap) this.filledGaps++;
    this.filledMs += ms;
  }

  get label(): "good" | "fair" | "poor" | null {
    if (this.frames < 10) return null;
    const lossRatio = this.missingMs / Math.max(1, this.frames * FRAME_MS + this.missingMs);
    if (this.jitter < 20 && lossRatio < 0.01) return "good";
    if (this.jitter < 50 && lossRatio < 0.05) return "fair";
    return "poor";
  }

  summary(): JsonObject {
    return {
      frames: this.frames,
      jitterMs: Math.round(this.jitter * 10) / 10,
      gaps: this.gaps,
      missingMs: Math.round(this.missingMs),
      filledGaps: this.filledGaps,
      filledMs: Math.round(this.filledMs),
    };
  }
}
