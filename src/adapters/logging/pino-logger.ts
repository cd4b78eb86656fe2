import { pino } from "pino";
import type { Logger } from "../../application/ports/index.ts";

/**
 * Secrets never reach the log, whatever object carries them; phone numbers are masked by
 * `maskPhone` where they are logged at info level.
 */
const REDACT = [
  "apiKey",
  "authToken",
  "*.apiKey",
  "*.authToken",
  "headers.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
  'headers["x-twilio-signature"]',
  "config.openai.apiKey",
  "config.twilioAuthToken",
  "config.apiKey",
  "config.database.url",
];

export type AppLogger = Logger & { flush?: () => void };

export function createLogger(level: string, destination?: NodeJS.WritableStream): AppLogger {
  const options = {
    level,
    base: { service: "callbridge" },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return (destination ? pino(options, destination) : pino(options)) as unknown as AppLogger;
}

/** Keeps the country code and the last two digits: enough to tell calls apart, not to dial. */
export function maskPhone(value: string | null | undefined): string | null {
  if (!value) return null;
  const digits = value.replace(/[^\d+]/g, "");
  if (digits.length <= 4) return "***";
  return `${digits.slice(0, 2)}${"*".repeat(Math.max(digits.length - 4, 3))}${digits.slice(-2)}`;
}
