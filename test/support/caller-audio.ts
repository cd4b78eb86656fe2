import type { ActiveCall } from "../../src/application/active-call.ts";
import { decodeMuLaw, resample } from "../../src/domain/audio/index.ts";
import { RECORDING_SAMPLE_RATE } from "../../src/domain/recording.ts";

/**
 * Records 8 kHz mu-law into a call's caller track the way the bridge does (decoded, resampled
 * to the recording rate), for tests that drive a call without a media stream.
 */
export function appendCallerMuLaw(call: ActiveCall, mulaw: Uint8Array): void {
  call.appendCaller(resample(decodeMuLaw(mulaw), 8000, RECORDING_SAMPLE_RATE));
}
