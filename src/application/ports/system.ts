export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  newId(): string;
}

/** The structured logger the application writes to (pino satisfies it). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** One piece of labelled work, from begin() until end(). */
export interface ActivitySpan {
  /** `label` replaces the one given at begin (an HTTP route is certain only once it answered). */
  end(label?: string): void;
}

/**
 * Names work done on the event loop, so that the stall watchdog can say what was running when
 * the audio of every call was held up. Never used per audio frame.
 */
export interface ActivitySpans {
  begin(label: string): ActivitySpan;
}
