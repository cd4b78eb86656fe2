/**
 * A JSON text message that carries audio as base64: `prefix`, the base64 of `audio`, `suffix`,
 * built as bytes in a fresh buffer (the socket may still hold the previous message's). Node's
 * native encoder writes a flat string that is copied in as Latin-1: concatenating the string
 * into the message instead made a second copy of it, and a JavaScript encoder writing straight
 * into the buffer measured twice as slow (1.04 µs against 0.58 µs for 20 ms at 24 kHz).
 */
export function audioMessage(prefix: Buffer, audio: ArrayBufferView, suffix: Buffer): Buffer {
  const base64 = Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength).toString("base64");
  const message = Buffer.allocUnsafe(prefix.length + base64.length + suffix.length);
  prefix.copy(message, 0);
  message.write(base64, prefix.length, "latin1");
  suffix.copy(message, prefix.length + base64.length);
  return message;
}
