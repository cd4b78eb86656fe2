import type { Clock } from "../../application/ports/index.ts";

export const systemClock: Clock = { now: () => new Date() };
