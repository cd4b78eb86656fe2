import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../../application/ports/index.ts";
import { errorMessage } from "../../domain/errors.ts";

type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

const BAD_REQUEST = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/**
 * Runs `inject` (@hono/node-ws's injectWebSocket) and wraps the `upgrade` listener it adds so
 * that no upgrade request can take the process down. That listener is async and parses the
 * request target with `new URL`, so an upgrade for `//` or `http://[` would reject outside any
 * handler, and Node ends the process on an unhandled rejection: a failed upgrade is answered 400
 * instead. Node also removes its own socket error listener when it hands an upgrade over, and ws
 * adds one only once the app has answered; a peer resetting in between needs a listener here.
 */
export function injectGuardedUpgrade(
  server: Server,
  inject: (server: Server) => void,
  logger: Logger,
): void {
  const before = new Set(server.listeners("upgrade"));
  inject(server);
  for (const added of server.listeners("upgrade")) {
    if (before.has(added)) continue;
    const listener = added as UpgradeListener;
    server.off("upgrade", listener);
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", () => socket.destroy());
      const refuse = (error: unknown) => {
        logger.warn({ err: errorMessage(error) }, "websocket upgrade refused");
        if (socket.writable) socket.end(BAD_REQUEST);
        else socket.destroy();
      };
      try {
        Promise.resolve(listener.call(server, request, socket, head)).catch(refuse);
      } catch (error) {
        refuse(error);
      }
    });
  }
}
