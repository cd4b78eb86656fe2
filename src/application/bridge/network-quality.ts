import type { JsonObject } from "../../domain/analytics.ts";
import { FRAME_MS } from "../../domain/audio/telephony-frames.ts";

/**
 * Inbound stream quality from frame timing: RFC 3550 interarrival jitter of our arrival times
 * against Twilio's media timestamps, and gaps where Twilio's timestamps skip frames.
 */
export class NetworkQuality {
  private frames = 0;
  private jitter = 0;
  private lastArrival = 0;
  private lastTimestamp: number | null = null;
  private gaps = 0;
  private missingMs = 0;

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
    };
  }
}
