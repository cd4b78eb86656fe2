/**
 * What the workers of one machine send each other (through the primary) about calls. The tag
 * keeps these apart from every other message on the channel (prom-client's cluster metrics).
 * `event` is encodeCallEvent's text: IPC's default JSON would turn the Dates into strings.
 */
export interface ClusterEventMessage {
  callbridge: "event";
  event: string;
}

export function isClusterEventMessage(message: unknown): message is ClusterEventMessage {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { callbridge?: unknown }).callbridge === "event" &&
    typeof (message as { event?: unknown }).event === "string"
  );
}
