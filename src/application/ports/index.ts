/** Every port of the application: what it needs from adapters and what adapters drive. */
export type * from "./bridge.ts";
export type * from "./call-analyzer.ts";
export type * from "./call-event-bus.ts";
export type * from "./call-events.ts";
export type * from "./call-repository.ts";
export type * from "./recording-archive.ts";
export type * from "./recording-store.ts";
export type * from "./system.ts";
