import type { CallTotals, TranscriptHit } from "../../../application/ports/index.ts";
import type { CallDetail } from "../../../application/queries.ts";
import type { Analytics } from "../../../domain/analytics.ts";
import type { Call } from "../../../domain/call.ts";
import type { CallMetadata } from "../../../domain/call-metadata.ts";
import { storedUsage } from "../../../domain/cost.ts";
import type { Recording } from "../../../domain/recording.ts";
import type { Transcript } from "../../../domain/transcript.ts";
import type {
  AnalyticsJson,
  CallDetailJson,
  CallJson,
  CallMetadataJson,
  CallTotalsJson,
  CallUsageJson,
  RecordingJson,
  SearchHitJson,
  TranscriptJson,
} from "./json-schemas.ts";

// Each mapper lists its fields one by one: spreading a domain object would leak any field added
// to it later (Recording.fileKey is exactly such a field).

const iso = (date: Date): string => date.toISOString();
const isoOrNull = (date: Date | null): string | null => (date === null ? null : iso(date));

export const callJson = (call: Call): CallJson => ({
  id: call.id,
  streamSid: call.streamSid,
  callSid: call.callSid,
  caller: call.caller,
  status: call.status,
  startedAt: iso(call.startedAt),
  endedAt: isoOrNull(call.endedAt),
  durationSeconds: call.durationSeconds,
  createdAt: iso(call.createdAt),
  updatedAt: iso(call.updatedAt),
  called: call.called,
  endReason: call.endReason,
  turns: call.turns,
  costUsd: call.costUsd,
  sentiment: call.sentiment,
  networkQuality: call.networkQuality,
  avgResponseLatencyMs: call.avgResponseLatencyMs,
  p95ResponseLatencyMs: call.p95ResponseLatencyMs,
  topic: call.topic,
  analysisStatus: call.analysisStatus,
  summary: call.summary,
  outcome: call.outcome,
  analysisFields: call.analysisFields,
});

export const recordingJson = (recording: Recording): RecordingJson => ({
  id: recording.id,
  callId: recording.callId,
  track: recording.track,
  format: recording.format,
  codec: recording.codec,
  sampleRate: recording.sampleRate,
  channels: recording.channels,
  sizeBytes: recording.sizeBytes,
  durationSeconds: recording.durationSeconds,
  cloudUrl: recording.cloudUrl,
  createdAt: iso(recording.createdAt),
});

export const transcriptJson = (transcript: Transcript): TranscriptJson => ({
  id: transcript.id,
  callId: transcript.callId,
  speaker: transcript.speaker,
  text: transcript.text,
  confidence: transcript.confidence,
  offsetMs: transcript.offsetMs,
  interrupted: transcript.interrupted,
  heardText: transcript.heardText,
  heardMs: transcript.heardMs,
  generatedMs: transcript.generatedMs,
  failed: transcript.failed,
  createdAt: iso(transcript.createdAt),
});

export const analyticsJson = (a: Analytics): AnalyticsJson => ({
  id: a.id,
  callId: a.callId,
  sentiment: a.sentiment,
  sentimentScore: a.sentimentScore,
  callerTalkMs: a.callerTalkMs,
  assistantTalkMs: a.assistantTalkMs,
  silenceMs: a.silenceMs,
  interruptions: a.interruptions,
  avgResponseLatencyMs: a.avgResponseLatencyMs,
  p95ResponseLatencyMs: a.p95ResponseLatencyMs,
  customMetrics: a.customMetrics,
  createdAt: iso(a.createdAt),
});

export const metadataJson = (m: CallMetadata): CallMetadataJson => ({
  callId: m.callId,
  language: m.language,
  region: m.region,
  deviceType: m.deviceType,
  networkQuality: m.networkQuality,
  customData: m.customData,
  updatedAt: iso(m.updatedAt),
});

/** The usage and cost the bridge stored in the call's metadata (customData), if any. */
const usageJson = (metadata: CallMetadata | null): CallUsageJson | null =>
  storedUsage(metadata?.customData ?? null);

export const callDetailJson = (detail: CallDetail): CallDetailJson => ({
  ...callJson(detail.call),
  metadata: detail.metadata === null ? null : metadataJson(detail.metadata),
  recordings: detail.recordings.map(recordingJson),
  transcriptCount: detail.transcriptCount,
  analyticsCount: detail.analyticsCount,
  usage: usageJson(detail.metadata),
});

export const searchHitJson = (hit: TranscriptHit): SearchHitJson => ({
  callId: hit.callId,
  transcriptId: hit.transcriptId,
  speaker: hit.speaker,
  snippet: hit.snippet,
  offsetMs: hit.offsetMs,
  startedAt: iso(hit.startedAt),
});

export const callTotalsJson = (totals: CallTotals): CallTotalsJson => {
  const ended = totals.calls - totals.active;
  return {
    calls: totals.calls,
    active: totals.active,
    failed: totals.failed,
    failureRate: ended === 0 ? null : Math.round((totals.failed / ended) * 10_000) / 10_000,
    minutes: totals.minutes,
    avgResponseLatencyMs: totals.avgResponseLatencyMs,
    p95ResponseLatencyMs: totals.p95ResponseLatencyMs,
    costUsd: totals.costUsd,
    days: totals.days.map((day) => ({ ...day })),
  };
};
