import { WAV_HEADER_BYTES, WAV_UNKNOWN_SIZE, wavHeader } from "../../domain/audio/index.ts";

export { WAV_HEADER_BYTES, wavHeader };

const RIFF_SIZE_OFFSET = 4;
const DATA_SIZE_OFFSET = 40;

/**
 * Header of a recording being written: both sizes 0xFFFFFFFF, the streaming convention ("length
 * unknown, read to end of file") that ffmpeg, sox and the domain's decodeWav honour, so a `.part`
 * file is still playable. Recovery never trusts these fields: it derives sizes from the file length.
 */
export function streamingHeader(sampleRate: number, channels: number): Uint8Array {
  const header = wavHeader(sampleRate, channels, 0);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  view.setUint32(RIFF_SIZE_OFFSET, WAV_UNKNOWN_SIZE, true);
  view.setUint32(DATA_SIZE_OFFSET, WAV_UNKNOWN_SIZE, true);
  return header;
}

export interface HeaderFormat {
  sampleRate: number;
  channels: number;
}

/**
 * The format of a canonical 44-byte PCM16 header (data right after it), whatever its size fields
 * say; null for anything else. Recovery needs exactly this layout to patch the header in place,
 * and must accept a header whose sizes were already patched or never were.
 */
export function readHeaderFormat(bytes: Uint8Array): HeaderFormat | null {
  if (bytes.byteLength < WAV_HEADER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAV_HEADER_BYTES);
  const tag = (offset: number) =>
    String.fromCharCode(
      view.getUint8(offset),
      view.getUint8(offset + 1),
      view.getUint8(offset + 2),
      view.getUint8(offset + 3),
    );
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE" || tag(12) !== "fmt " || tag(36) !== "data") {
    return null;
  }
  const fmtSize = view.getUint32(16, true);
  const audioFormat = view.getUint16(20, true);
  const channels = view.getUint16(22, true);
  const sampleRate = view.getUint32(24, true);
  const byteRate = view.getUint32(28, true);
  const blockAlign = view.getUint16(32, true);
  const bitsPerSample = view.getUint16(34, true);
  const consistent =
    fmtSize === 16 &&
    audioFormat === 1 &&
    bitsPerSample === 16 &&
    channels >= 1 &&
    sampleRate >= 1 &&
    blockAlign === channels * 2 &&
    byteRate === sampleRate * blockAlign;
  return consistent ? { sampleRate, channels } : null;
}
