import type {
  analytics,
  callMetadata,
  calls,
  recordings,
  transcripts,
} from "../../../drizzle/schema.ts";
import type { Analytics } from "../../domain/analytics.ts";
import type { Call } from "../../domain/call.ts";
import type { CallMetadata } from "../../domain/call-metadata.ts";
import type { CallAnalysis } from "../../domain/call-review.ts";
import type { Recording } from "../../domain/recording.ts";
import type { Transcript } from "../../domain/transcript.ts";

type CallRow = typeof calls.$inferSelect;
type RecordingRow = typeof recordings.$inferSelect;
type TranscriptRow = typeof transcripts.$inferSelect;
type TranscriptInsert = typeof transcripts.$inferInsert;
type AnalyticsRow = typeof analytics.$inferSelect;
type MetadataRow = typeof callMetadata.$inferSelect;

// Each mapper lists every field so that a column added to the schema or a field added to the
// domain fails to type-check here instead of silently going missing.

type AnalysisColumns = keyof CallAnalysis;

/**
 * The owner is not part of the domain's Call: it is written once, by createCall. Nor is the
 * analysis: only setCallAnalysis writes it, so that storing a call's end never overwrites an
 * analysis stored meanwhile.
 */
export const callToRow = (call: Call): Omit<CallRow, "owner" | AnalysisColumns> => ({
  id: call.id,
  streamSid: call.streamSid,
  callSid: call.callSid,
  caller: call.caller,
  called: call.called,
  status: call.status,
  startedAt: call.startedAt,
  endedAt: call.endedAt,
  durationSeconds: call.durationSeconds,
  createdAt: call.createdAt,
  updatedAt: call.updatedAt,
  endReason: call.endReason,
  turns: call.turns,
  costUsd: call.costUsd,
  sentiment: call.sentiment,
  networkQuality: call.networkQuality,
  avgResponseLatencyMs: call.avgResponseLatencyMs,
  p95ResponseLatencyMs: call.p95ResponseLatencyMs,
  topic: call.topic,
});

export const analysisToRow = (analysis: CallAnalysis): Pick<CallRow, AnalysisColumns> => ({
  analysisStatus: analysis.analysisStatus,
  summary: analysis.summary,
  outcome: analysis.outcome,
  analysisFields: analysis.analysisFields,
});

export const rowToCall = (row: CallRow): Call => ({
  id: row.id,
  streamSid: row.streamSid,
  callSid: row.callSid,
  caller: row.caller,
  called: row.called,
  status: row.status,
  startedAt: row.startedAt,
  endedAt: row.endedAt,
  durationSeconds: row.durationSeconds,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
  endReason: row.endReason,
  turns: row.turns,
  costUsd: row.costUsd,
  sentiment: row.sentiment,
  networkQuality: row.networkQuality,
  avgResponseLatencyMs: row.avgResponseLatencyMs,
  p95ResponseLatencyMs: row.p95ResponseLatencyMs,
  topic: row.topic,
  analysisStatus: row.analysisStatus,
  summary: row.summary,
  outcome: row.outcome,
  analysisFields: row.analysisFields,
});

export const recordingToRow = (recording: Recording): RecordingRow => ({
  id: recording.id,
  callId: recording.callId,
  track: recording.track,
  format: recording.format,
  codec: recording.codec,
  sampleRate: recording.sampleRate,
  channels: recording.channels,
  sizeBytes: recording.sizeBytes,
  durationSeconds: recording.durationSeconds,
  fileKey: recording.fileKey,
  cloudUrl: recording.cloudUrl,
  createdAt: recording.createdAt,
});

export const rowToRecording = (row: RecordingRow): Recording => ({
  id: row.id,
  callId: row.callId,
  track: row.track,
  format: row.format,
  codec: row.codec,
  sampleRate: row.sampleRate,
  channels: row.channels,
  sizeBytes: row.sizeBytes,
  durationSeconds: row.durationSeconds,
  fileKey: row.fileKey,
  cloudUrl: row.cloudUrl,
  createdAt: row.createdAt,
});

/** `seq` is left to SQLite: it is the insertion order and the full-text index's rowid. */
export const transcriptToRow = (transcript: Transcript): TranscriptInsert => ({
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
  createdAt: transcript.createdAt,
});

export const rowToTranscript = (row: TranscriptRow): Transcript => ({
  id: row.id,
  callId: row.callId,
  speaker: row.speaker,
  text: row.text,
  confidence: row.confidence,
  offsetMs: row.offsetMs,
  interrupted: row.interrupted,
  heardText: row.heardText,
  heardMs: row.heardMs,
  generatedMs: row.generatedMs,
  failed: row.failed,
  createdAt: row.createdAt,
});

export const analyticsToRow = (a: Analytics): AnalyticsRow => ({
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
  createdAt: a.createdAt,
});

export const rowToAnalytics = (row: AnalyticsRow): Analytics => ({
  id: row.id,
  callId: row.callId,
  sentiment: row.sentiment,
  sentimentScore: row.sentimentScore,
  callerTalkMs: row.callerTalkMs,
  assistantTalkMs: row.assistantTalkMs,
  silenceMs: row.silenceMs,
  interruptions: row.interruptions,
  avgResponseLatencyMs: row.avgResponseLatencyMs,
  p95ResponseLatencyMs: row.p95ResponseLatencyMs,
  customMetrics: row.customMetrics,
  createdAt: row.createdAt,
});

export const metadataToRow = (m: CallMetadata): MetadataRow => ({
  callId: m.callId,
  language: m.language,
  region: m.region,
  deviceType: m.deviceType,
  networkQuality: m.networkQuality,
  customData: m.customData,
  updatedAt: m.updatedAt,
});

export const rowToMetadata = (row: MetadataRow): CallMetadata => ({
  callId: row.callId,
  language: row.language,
  region: row.region,
  deviceType: row.deviceType,
  networkQuality: row.networkQuality,
  customData: row.customData,
  updatedAt: row.updatedAt,
});
