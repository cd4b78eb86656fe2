import type { EndReason } from "../domain/call-review.ts";
import type { StopReason } from "./ports/index.ts";

/** How the person reviewing the call names why it ended (src/domain/call-review.ts). */
export function endReasonOf(
  reason: StopReason,
  outcome: "completed" | "failed",
  modelFailed: boolean,
): EndReason {
  // A silent line is why a caller hangs up on an assistant that stopped answering.
  if (modelFailed && (reason === "stop" || reason === "socket_closed")) return "model_failure";
  switch (reason) {
    case "stop":
      return "caller_hung_up";
    case "socket_closed":
      return outcome === "completed" ? "stream_closed" : "network_drop";
    case "shutdown":
      return "server_shutdown";
    case "max_duration":
      return "max_duration";
    case "assistant_ended":
      return "assistant_ended";
  }
}
