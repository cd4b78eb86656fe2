import type { Call } from "../../src/domain/call.ts";
import type { TestServer } from "./test-server.ts";

/** The stream's call once it is stored and still active, else undefined (for `eventually`). */
export async function liveCall(s: TestServer, streamSid: string): Promise<Call | undefined> {
  const call = await s.running.composition.calls.getCallByStreamSid(streamSid);
  return call?.status === "active" ? call : undefined;
}
