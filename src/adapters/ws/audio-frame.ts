/**
 * A whole WebSocket text frame (RFC 6455 §5.2) carrying a JSON message with audio as base64:
 * `prefix`, the base64 of `audio`, `suffix`, after the frame's header, in one buffer. Written
 * straight to the socket under a `ws` WebSocket it costs one write of one buffer; `ws.send`
 * makes a header buffer, options and a list per message and writes the two buffers corked,
 * about 5 µs more per message (BENCHMARKS.md), 50 times a second per call.
 *
 * `masked`: a client's frame carries a masking key (§5.3). The key is all zeros, which leaves
 * the payload as it is, as realtime-client.ts's `zeroMask` does for frames ws sends.
 */
export function audioFrame(
  prefix: Buffer,
  audio: ArrayBufferView,
  suffix: Buffer,
  masked: boolean,
): Buffer {
  const base64 = Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength).toString("base64");
  const length = prefix.length + base64.length + suffix.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const header = 2 + lengthBytes + (masked ? 4 : 0);
  const frame = Buffer.allocUnsafe(header + length);
  // FIN, text opcode.
  frame[0] = 0x81;
  const maskBit = masked ? 0x80 : 0;
  if (lengthBytes === 0) {
    frame[1] = maskBit | length;
  } else if (lengthBytes === 2) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (masked) frame.writeUInt32BE(0, 2 + lengthBytes);
  prefix.copy(frame, header);
  frame.write(base64, header + prefix.length, "latin1");
  suffix.copy(frame, header + prefix.length + base64.length);
  return frame;
}

/** The byte stream under a WebSocket, where whole frames may be written. */
export interface FrameSocket {
  readonly writable: boolean;
  write(frame: Buffer): boolean;
}
