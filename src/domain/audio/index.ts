export {
  decodeMuLaw,
  decodeMuLawInto,
  decodeMuLawSample,
  encodeMuLaw,
  encodeMuLawInto,
  encodeMuLawSample,
} from "./mulaw.ts";
export { Resampler, resample } from "./resampler.ts";
export {
  decodeWav,
  encodeWav,
  LITTLE_ENDIAN_HOST,
  patchWavSizes,
  readWavLayout,
  WAV_HEADER_BYTES,
  WAV_UNKNOWN_SIZE,
  type WavLayout,
  wavHeader,
} from "./wav.ts";
