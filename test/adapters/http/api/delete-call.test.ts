import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorJson } from "../../../../src/adapters/http/api/json-schemas.ts";
import {
  type ApiWorld,
  describeEachBackend,
  seedAnalytics,
  seedCall,
  seedMetadata,
  seedRecording,
  seedTranscript,
} from "./api-test-world.ts";

let world: ApiWorld;

const rowCount = async (table: string, callId: string): Promise<number> => {
  const column = table === "calls" ? "id" : "call_id";
  const [row] = await world.sql(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`, [callId]);
  return Number(row?.n);
};

const TABLES = ["calls", "recordings", "transcripts", "analytics", "call_metadata"];

async function aFullCall(id: string) {
  const call = await seedCall(world, { id, startedAt: `2026-02-0${id.length}T08:00:00.000Z` });
  await seedRecording(world, call, `${id}-caller`);
  await seedRecording(world, call, `${id}-conv`, { track: "conversation", sampleCount: 200 });
  await seedTranscript(world, call, `${id}-t1`, "please delete me");
  await seedAnalytics(world, call, `${id}-a1`, 1000);
  await seedMetadata(world, call, { language: "en" });
  const stem = `${call.streamSid}_${call.startedAt.getTime()}`;
  await world.store.writeSidecar(call.streamSid, call.startedAt.getTime(), "transcript", "x\n");
  await world.store.writeSidecar(call.streamSid, call.startedAt.getTime(), "metadata", "{}\n");
  return { call, stem };
}

const filesOf = (stem: string) =>
  fs.readdirSync(world.recordingsDir).filter((name) => name.startsWith(stem));

describeEachBackend("deleting a call", (backend) => {
  beforeEach(async () => {
    world = await backend.createWorld();
  });
  afterEach(() => world.close());

  describe("DELETE /api/calls/:id", () => {
    it("answers 204 and removes the call's rows, recordings and sidecar files", async () => {
      const { stem } = await aFullCall("doomed");
      const { stem: otherStem } = await aFullCall("keeper");
      expect(filesOf(stem).sort()).toEqual([
        `${stem}.wav`,
        `${stem}_conversation.wav`,
        `${stem}_metadata.json`,
        `${stem}_transcript.txt`,
      ]);
      for (const table of TABLES) expect(await rowCount(table, "doomed")).toBeGreaterThan(0);

      const response = await world.request("/api/calls/doomed", { method: "DELETE" });
      expect(response.status).toBe(204);
      expect(await response.text()).toBe("");

      for (const table of TABLES) expect(await rowCount(table, "doomed")).toBe(0);
      expect(filesOf(stem)).toEqual([]);
      for (const table of TABLES) expect(await rowCount(table, "keeper")).toBeGreaterThan(0);
      expect(filesOf(otherStem)).toHaveLength(4);
      expect((await world.request("/api/calls/doomed")).status).toBe(404);
      expect((await world.request("/api/recordings/doomed-caller/audio")).status).toBe(404);
      const search = await world.request("/api/search?q=delete");
      const hits = ((await search.json()) as { data: Array<{ callId: string }> }).data;
      expect(hits.map((hit) => hit.callId)).toEqual(["keeper"]);
    });

    it("answers 404 for an unknown call, a second delete and a hostile id", async () => {
      await seedCall(world, { id: "once" });
      expect((await world.request("/api/calls/once", { method: "DELETE" })).status).toBe(204);
      for (const id of ["once", "never", encodeURIComponent("../../etc/passwd")]) {
        const response = await world.request(`/api/calls/${id}`, { method: "DELETE" });
        expect(response.status).toBe(404);
        expect(ErrorJson.parse(await response.json()).error.code).toBe("not_found");
      }
    });

    it("refuses with 409 to delete a call that is live in this process, and keeps it", async () => {
      const { call, stem } = await aFullCall("live");
      world.live.add(call.id);
      const response = await world.request("/api/calls/live", { method: "DELETE" });
      expect(response.status).toBe(409);
      const body = ErrorJson.parse(await response.json());
      expect(body.error.code).toBe("conflict");
      expect(body.error.message).toContain("in progress");
      expect(await rowCount("calls", "live")).toBe(1);
      expect(filesOf(stem)).toHaveLength(4);
      world.live.delete(call.id);
      expect((await world.request("/api/calls/live", { method: "DELETE" })).status).toBe(204);
    });

    it("refuses with 409 to delete a call whose stored status is still active", async () => {
      await seedCall(world, { id: "ringing", outcome: "active" });
      const response = await world.request("/api/calls/ringing", { method: "DELETE" });
      expect(response.status).toBe(409);
      expect(await rowCount("calls", "ringing")).toBe(1);
    });

    it("deletes a call whose recording file has already gone from the disk", async () => {
      const { call, stem } = await aFullCall("half");
      fs.rmSync(`${world.recordingsDir}/${stem}.wav`);
      expect((await world.request(`/api/calls/${call.id}`, { method: "DELETE" })).status).toBe(204);
      expect(filesOf(stem)).toEqual([]);
      expect(await rowCount("calls", "half")).toBe(0);
    });
  });
});
