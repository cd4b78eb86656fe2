import type {
  CallEvent,
  CallEventBus,
  CallEventSink,
  Logger,
} from "../../application/ports/index.ts";
import { errorMessage } from "../../domain/errors.ts";
import { decodeCallEvent, encodeCallEvent } from "./call-event-json.ts";
import { type ClusterEventMessage, isClusterEventMessage } from "./cluster-event-message.ts";
import type { EventBusErrorKind } from "./event-bus-error-kind.ts";
import { LocalSubscribers } from "./local-subscribers.ts";

/** The IPC channel of a process forked by node:cluster (or child_process.fork) to its parent. */
export interface IpcChannel {
  readonly connected: boolean;
  send(message: ClusterEventMessage, callback: (error: Error | null) => void): void;
  on(event: "message", listener: (message: unknown) => void): void;
  off(event: "message", listener: (message: unknown) => void): void;
}

export interface ClusterIpcEventBusOptions {
  logger: Logger;
  /** Default: this process's channel to the cluster primary. */
  channel?: IpcChannel;
  /** `event_bus_send`: an event could not be sent to the other workers. */
  onError?: (kind: EventBusErrorKind) => void;
}

/**
 * The bus of a node:cluster worker: events go to this worker's subscribers at once and, through
 * the primary (relayClusterEvents), to the other workers of the machine; theirs come back the
 * same way. One channel in each direction keeps each call's events in order.
 */
export class ClusterIpcEventBus implements CallEventBus {
  private readonly subscribers = new LocalSubscribers();
  private readonly channel: IpcChannel;
  private closed = false;
  /** Logged once per run of failures, not once per event (a call sends many a second). */
  private failing = false;

  constructor(private readonly options: ClusterIpcEventBusOptions) {
    this.channel = options.channel ?? processChannel();
    this.channel.on("message", this.receive);
  }

  publish(event: CallEvent): void {
    if (this.closed) return;
    this.subscribers.deliver(event);
    try {
      if (!this.channel.connected) throw new Error("the channel to the cluster primary is closed");
      this.channel.send({ callbridge: "event", event: encodeCallEvent(event) }, (error) => {
        if (error) this.sendFailed(error);
        else this.failing = false;
      });
    } catch (error) {
      this.sendFailed(error);
    }
  }

  subscribe(sink: CallEventSink): () => void {
    if (this.closed) return () => {};
    return this.subscribers.add(sink);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel.off("message", this.receive);
    this.subscribers.clear();
  }

  private readonly receive = (message: unknown): void => {
    if (this.closed || !isClusterEventMessage(message)) return;
    const event = decodeCallEvent(message.event);
    if (event) this.subscribers.deliver(event);
    else this.options.logger.warn({}, "an unreadable call event came from another worker");
  };

  private sendFailed(error: unknown): void {
    this.options.onError?.("event_bus_send");
    if (this.failing) return;
    this.failing = true;
    this.options.logger.warn(
      { err: errorMessage(error) },
      "call events cannot reach the other workers: their live feeds miss this worker's calls",
    );
  }
}

function processChannel(): IpcChannel {
  return {
    get connected() {
      return process.connected === true && process.send !== undefined;
    },
    send(message, callback) {
      // With a callback, a failed send is reported there, never as an 'error' on the process.
      if (!process.send) throw new Error("this process has no IPC channel");
      process.send(message, undefined, undefined, callback);
    },
    on(event, listener) {
      process.on(event, listener);
    },
    off(event, listener) {
      process.off(event, listener);
    },
  };
}
