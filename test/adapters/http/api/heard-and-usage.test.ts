import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CallDetailJson,
  SearchPageJson,
  TranscriptListJson,
} from "../../../../src/adapters/http/api/json-schemas.ts";
import { createTranscript } from "../../../../src/domain/transcript.ts";
import {
  type ApiWorld,
  describeEachBackend,
  seedCall,
  seedMetadata,
  seedTranscript,
} from "./api-test-world.ts";

let world: ApiWorld;

const ANSWER = "We open at nine and close at five on weekdays.";

async function getJson(path: string): Promise<unknown> {
  const response = await world.request(path);
  expect(response.status, path).toBe(200);
  return response.json();
}

describeEachBackend("heard text and usage", (backend) => {
  beforeEach(async () => {
    world = await backend.createWorld();
  });
  afterEach(() => world.close());

  describe("what the caller heard, in the API", () => {
    it("answers the full text, the heard part and both lengths; null where nothing was cut", async () => {
      const call = await seedCall(world, { id: "c" });
      await seedTranscript(world, call, "t1", "When are you open?", { offsetMs: 0 });
      await world.repository.createTranscript(
        createTranscript({
          id: "t2",
          callId: call.id,
          speaker: "assistant",
          text: ANSWER,
          offsetMs: 1500,
          cut: { heardMs: 1200, generatedMs: 4000, heardText: "We open at nine" },
          createdAt: new Date(call.startedAt.getTime() + 2000),
        }),
      );
      const body = TranscriptListJson.parse(await getJson("/api/calls/c/transcripts"));
      expect(body.data).toMatchObject([
        { id: "t1", interrupted: false, heardText: null, heardMs: null, generatedMs: null },
        {
          id: "t2",
          text: ANSWER,
          interrupted: true,
          heardText: "We open at nine",
          heardMs: 1200,
          generatedMs: 4000,
        },
      ]);
      const search = SearchPageJson.parse(await getJson("/api/search?q=weekdays"));
      expect(search.data).toEqual([]);
      const heard = SearchPageJson.parse(await getJson("/api/search?q=nine"));
      expect(heard.data.map((hit) => hit.transcriptId)).toEqual(["t2"]);
    });

    it("documents the new fields in the OpenAPI document", async () => {
      const doc = (await getJson("/openapi.json")) as {
        components: { schemas: Record<string, { properties: Record<string, unknown> }> };
      };
      expect(Object.keys(doc.components.schemas.Transcript!.properties)).toEqual(
        expect.arrayContaining(["text", "heardText", "heardMs", "generatedMs"]),
      );
      expect(doc.components.schemas.CallDetail!.properties).toHaveProperty("usage");
    });
  });

  describe("usage and cost, in the call detail", () => {
    it("answers the stored usage and estimated cost", async () => {
      const call = await seedCall(world, { id: "c" });
      const tokenUsage = {
        input_tokens: 120,
        output_tokens: 45,
        input_token_details: { audio_tokens: 100, text_tokens: 20, cached_tokens: 64 },
      };
      await seedMetadata(world, call, {
        customData: { tokenUsage, transcriptionUsage: { seconds: 3 }, estimatedCostUsd: 0.0123 },
      });
      const detail = CallDetailJson.parse(await getJson("/api/calls/c"));
      expect(detail.usage).toEqual({
        tokenUsage,
        transcriptionUsage: { seconds: 3 },
        estimatedCostUsd: 0.0123,
      });
    });

    it("answers null for a call with no usage", async () => {
      const call = await seedCall(world, { id: "c" });
      await seedMetadata(world, call, { customData: { campaign: "spring" } });
      expect(CallDetailJson.parse(await getJson("/api/calls/c")).usage).toBeNull();
      await seedCall(world, { id: "bare" });
      expect(CallDetailJson.parse(await getJson("/api/calls/bare")).usage).toBeNull();
    });
  });
});
