import { invalidArgument, invalidAudio } from "../errors.ts";

/** Length of the canonical PCM16 header: RIFF + "fmt " (16 bytes) + "data" chunk header. */
export const WAV_HEADER_BYTES = 44;

/**
 * Size written while a file is still being recorded ("unknown, read to end of file"). decodeWav
 * treats it, like 0, as "the data runs to the end of the file" so crash-recovered files decode.
 */
export const WAV_UNKNOWN_SIZE = 0xffffffff;

const RIFF_SIZE_OFFSET = 4;
const DATA_SIZE_OFFSET = 40;
const MAX_DATA_BYTES = 0xffffffff - 36;
const FORMAT_PCM = 1;
const FORMAT_EXTENSIBLE = 0xfffe;

const FORMAT_NAMES: Record<number, string> = {
  2: "Microsoft ADPCM",
  3: "IEEE float",
  6: "A-law",
  7: "mu-law",
  17: "IMA ADPCM",
  85: "MP3",
};

/** WAV is little-endian: where the host is too, PCM16 samples are copied as they are. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function writeAscii(bytes: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
}

function readAscii(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(
    bytes[offset]!,
    bytes[offset + 1]!,
    bytes[offset + 2]!,
    bytes[offset + 3]!,
  );
}

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function assertFormat(sampleRate: number, channels: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate * channels * 2 > 0xffffffff) {
    throw invalidArgument(`WAV sample rate must be a positive integer, got ${sampleRate}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 0x7fff) {
    throw invalidArgument(`WAV channel count must be an integer from 1 to 32767, got ${channels}`);
  }
}

function assertDataBytes(dataBytes: number, blockAlign: number): void {
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > MAX_DATA_BYTES) {
    throw invalidArgument(
      `WAV data size must be an integer from 0 to ${MAX_DATA_BYTES}, got ${dataBytes}`,
    );
  }
  if (dataBytes % blockAlign !== 0) {
    throw invalidArgument(
      `WAV data size ${dataBytes} is not a whole number of ${blockAlign}-byte sample frames`,
    );
  }
}

/**
 * The canonical 44-byte PCM16 little-endian header for `dataBytes` of sample data. With
 * WAV_UNKNOWN_SIZE both size fields get the streaming placeholder (players read to the end).
 */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Uint8Array {
  assertFormat(sampleRate, channels);
  const blockAlign = channels * 2;
  const unknown = dataBytes === WAV_UNKNOWN_SIZE;
  if (!unknown) assertDataBytes(dataBytes, blockAlign);
  const h = new Uint8Array(WAV_HEADER_BYTES);
  writeAscii(h, 0, "RIFF");
  setU32(h, RIFF_SIZE_OFFSET, unknown ? WAV_UNKNOWN_SIZE : 36 + dataBytes);
  writeAscii(h, 8, "WAVE");
  writeAscii(h, 12, "fmt ");
  setU32(h, 16, 16);
  setU16(h, 20, FORMAT_PCM);
  setU16(h, 22, channels);
  setU32(h, 24, sampleRate);
  setU32(h, 28, sampleRate * blockAlign);
  setU16(h, 32, blockAlign);
  setU16(h, 34, 16);
  writeAscii(h, 36, "data");
  setU32(h, DATA_SIZE_OFFSET, dataBytes);
  return h;
}

/**
 * Rewrites the RIFF and data sizes of a canonical header in place (a streaming writer writes the
 * header with placeholder sizes first and patches it when the file is finalized). Returns it.
 */
export function patchWavSizes(header: Uint8Array, dataBytes: number): Uint8Array {
  if (
    header.length < WAV_HEADER_BYTES ||
    readAscii(header, 0) !== "RIFF" ||
    readAscii(header, 8) !== "WAVE" ||
    readAscii(header, 12) !== "fmt " ||
    u32(header, 16) !== 16 ||
    readAscii(header, 36) !== "data"
  ) {
    throw invalidAudio("patchWavSizes needs a canonical 44-byte PCM WAV header");
  }
  assertDataBytes(dataBytes, Math.max(1, u16(header, 32)));
  setU32(header, RIFF_SIZE_OFFSET, 36 + dataBytes);
  setU32(header, DATA_SIZE_OFFSET, dataBytes);
  return header;
}

/** Interleaved PCM16 samples → a complete WAV file (canonical header + data). */
export function encodeWav(samples: Int16Array, sampleRate: number, channels: number): Uint8Array {
  assertFormat(sampleRate, channels);
  if (samples.length % channels !== 0) {
    throw invalidArgument(
      `encodeWav: ${samples.length} samples are not a whole number of ${channels}-channel frames`,
    );
  }
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(WAV_HEADER_BYTES + dataBytes);
  out.set(wavHeader(sampleRate, channels, dataBytes));
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(samples.buffer, samples.byteOffset, dataBytes), WAV_HEADER_BYTES);
  } else {
    for (let i = 0, o = WAV_HEADER_BYTES; i < samples.length; i++, o += 2)
      setU16(out, o, samples[i]!);
  }
  return out;
}

/** Where the samples of a PCM16 WAV file are, without copying them. */
export interface WavLayout {
  readonly sampleRate: number;
  readonly channels: number;
  readonly dataOffset: number;
  /** Whole sample frames only. */
  readonly dataBytes: number;
  /** False when the data size was a placeholder (0 or 0xFFFFFFFF) and was taken from the file length. */
  readonly sizeKnown: boolean;
}

interface Format {
  channels: number;
  sampleRate: number;
  blockAlign: number;
}

function parseFormat(bytes: Uint8Array, body: number, size: number): Format {
  if (size < 16) throw invalidAudio(`WAV "fmt " chunk is ${size} bytes; at least 16 are required`);
  let tag = u16(bytes, body);
  const channels = u16(bytes, body + 2);
  const sampleRate = u32(bytes, body + 4);
  const blockAlign = u16(bytes, body + 12);
  const bits = u16(bytes, body + 14);
  if (tag === FORMAT_EXTENSIBLE) {
    // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
    if (size < 40) throw invalidAudio('WAV extensible "fmt " chunk is shorter than 40 bytes');
    tag = u16(bytes, body + 24);
  }
  if (tag !== FORMAT_PCM) {
    const name = FORMAT_NAMES[tag];
    throw invalidAudio(
      `unsupported WAV encoding: format tag ${tag}${name ? ` (${name})` : ""}; only 16-bit PCM is supported`,
    );
  }
  if (bits !== 16) {
    throw invalidAudio(
      `unsupported WAV sample size: ${bits}-bit PCM; only 16-bit PCM is supported`,
    );
  }
  if (channels === 0) throw invalidAudio("invalid WAV: zero channels");
  if (sampleRate === 0) throw invalidAudio("invalid WAV: zero sample rate");
  if (blockAlign !== channels * 2) {
    throw invalidAudio(
      `invalid WAV: block align ${blockAlign} does not match ${channels} channels of 16-bit samples`,
    );
  }
  return { channels, sampleRate, blockAlign };
}

/**
 * Finds the format and sample data of any RIFF/WAVE PCM16 file: unknown chunks (LIST, fact, …)
 * are skipped, odd-sized chunks are followed by their pad byte, and a data size of 0xFFFFFFFF or
 * 0 (a header never patched, as left by a crash) means "to the end of the file", cut to whole
 * sample frames; a 0-size data chunk followed only by well-formed chunks is simply empty. The
 * RIFF size is ignored. Anything else malformed throws DomainError("invalid_audio").
 */
export function readWavLayout(bytes: Uint8Array): WavLayout {
  if (!(bytes instanceof Uint8Array)) throw invalidAudio("WAV input must be bytes (Uint8Array)");
  if (bytes.length < 12) throw invalidAudio(`not a WAV file: only ${bytes.length} bytes`);
  if (readAscii(bytes, 0) !== "RIFF" || readAscii(bytes, 8) !== "WAVE") {
    const magic = readAscii(bytes, 0);
    const hint = magic === "RF64" ? " (RF64 is not supported)" : "";
    throw invalidAudio(`not a RIFF/WAVE file${hint}`);
  }
  let format: Format | null = null;
  let data: { offset: number; bytes: number; known: boolean } | null = null;
  let offset = 12;
  while (offset + 8 <= bytes.length && (format === null || data === null)) {
    const id = readAscii(bytes, offset);
    const size = u32(bytes, offset + 4);
    const body = offset + 8;
    const remaining = bytes.length - body;
    if (id === "data") {
      // A placeholder size means "to the end of the file", unless (for 0) what follows is a
      // well-formed run of chunks, i.e. the data chunk is genuinely empty.
      if (size === WAV_UNKNOWN_SIZE || (size === 0 && !isChunkRun(bytes, body))) {
        data = { offset: body, bytes: remaining, known: false };
        break;
      }
      if (size > remaining) {
        throw invalidAudio(
          `truncated WAV: data chunk declares ${size} bytes but only ${remaining} remain`,
        );
      }
      data = { offset: body, bytes: size, known: true };
    } else {
      if (size > remaining) {
        throw invalidAudio(
          `truncated WAV: "${printable(id)}" chunk declares ${size} bytes but only ${remaining} remain`,
        );
      }
      if (id === "fmt ") {
        if (format !== null) throw invalidAudio('invalid WAV: more than one "fmt " chunk');
        format = parseFormat(bytes, body, size);
      }
    }
    offset = body + size + (size & 1);
  }
  if (format === null)
    throw invalidAudio('invalid WAV: no "fmt " chunk before the end of the file');
  if (data === null) throw invalidAudio("invalid WAV: no data chunk");
  if (data.known && data.bytes % format.blockAlign !== 0) {
    throw invalidAudio(
      `invalid WAV: data size ${data.bytes} is not a whole number of ${format.blockAlign}-byte frames`,
    );
  }
  return {
    sampleRate: format.sampleRate,
    channels: format.channels,
    dataOffset: data.offset,
    dataBytes: data.bytes - (data.bytes % format.blockAlign),
    sizeKnown: data.known,
  };
}

/** Whether bytes[offset..] is a sequence of chunks with printable ids ending exactly at the end. */
function isChunkRun(bytes: Uint8Array, offset: number): boolean {
  if (offset >= bytes.length) return true;
  while (offset + 8 <= bytes.length) {
    for (let i = 0; i < 4; i++) {
      const c = bytes[offset + i]!;
      if (c < 0x20 || c > 0x7e) return false;
    }
    const size = u32(bytes, offset + 4);
    const next = offset + 8 + size + (size & 1);
    if (next === bytes.length || (next === bytes.length + 1 && size & 1)) return true;
    if (next > bytes.length) return false;
    offset = next;
  }
  return false;
}

function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, "?");
}

/** Decodes a RIFF/WAVE PCM16 file into interleaved samples (see readWavLayout for what is accepted). */
export function decodeWav(bytes: Uint8Array): {
  samples: Int16Array;
  sampleRate: number;
  channels: number;
} {
  const layout = readWavLayout(bytes);
  const count = layout.dataBytes / 2;
  const samples = new Int16Array(count);
  const start = bytes.byteOffset + layout.dataOffset;
  if (LITTLE_ENDIAN_HOST && start % 2 === 0) {
    samples.set(new Int16Array(bytes.buffer, start, count));
  } else {
    for (let i = 0, o = layout.dataOffset; i < count; i++, o += 2) {
      samples[i] = ((bytes[o]! | (bytes[o + 1]! << 8)) << 16) >> 16;
    }
  }
  return { samples, sampleRate: layout.sampleRate, channels: layout.channels };
}
