/** Milliseconds of audio in one Twilio media frame. */
export const FRAME_MS = 20;

/** Bytes of one Twilio media frame: 20 ms of 8 kHz mu-law. */
export const MULAW_FRAME_BYTES = 160;

/** Largest media payload accepted per frame: Twilio sends 160 bytes; this allows generous slack. */
export const MAX_FRAME_BYTES = 16_384;
