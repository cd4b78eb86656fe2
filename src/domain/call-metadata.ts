import type { JsonObject } from "./analytics.ts";

export interface CallMetadata {
  readonly callId: string;
  readonly language: string | null;
  readonly region: string | null;
  readonly deviceType: string | null;
  readonly networkQuality: string | null;
  readonly customData: JsonObject | null;
  readonly updatedAt: Date;
}

export interface MetadataPatch {
  language?: string | null;
  region?: string | null;
  deviceType?: string | null;
  networkQuality?: string | null;
  customData?: JsonObject | null;
}

/**
 * Applies a patch: absent fields keep their value; customData is merged key by key so that
 * stream parameters and later setMetadata calls do not erase each other.
 */
export function mergeMetadata(
  callId: string,
  current: CallMetadata | null,
  patch: MetadataPatch,
  updatedAt: Date,
): CallMetadata {
  const pick = <K extends keyof MetadataPatch>(key: K, fallback: CallMetadata[K]) =>
    patch[key] === undefined ? fallback : (patch[key] as CallMetadata[K]);
  const customData =
    patch.customData === undefined
      ? (current?.customData ?? null)
      : patch.customData === null
        ? null
        : { ...(current?.customData ?? {}), ...patch.customData };
  return {
    callId,
    language: pick("language", current?.language ?? null),
    region: pick("region", current?.region ?? null),
    deviceType: pick("deviceType", current?.deviceType ?? null),
    networkQuality: pick("networkQuality", current?.networkQuality ?? null),
    customData,
    updatedAt,
  };
}
