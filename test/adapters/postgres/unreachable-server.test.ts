import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { connectPostgres } from "../../../src/adapters/postgres/connection.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import { DomainError } from "../../../src/domain/errors.ts";
import { aCall, anAnalytics, aTranscript } from "../sqlite/sqlite-test-world.ts";

/** A port on which nothing listens: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => "resolved",
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

// No PostgreSQL needed: the point is that there is none.
describe("PostgresCallRepository without a reachable server", () => {
  it("fails every kind of operation as storage_unavailable, naming no address", async () => {
    const url = `postgres://callbridge:secret@127.0.0.1:${await closedPort()}/calls`;
    const backgroundErrors: string[] = [];
    const repository = PostgresCallRepository.on(connectPostgres(url, 2), {
      onBackgroundError: (message) => backgroundErrors.push(message),
    });
    try {
      const failures = await Promise.all([
        rejection(repository.ping()),
        rejection(repository.getCallById("c1")),
        rejection(repository.createCall(aCall("c1"))),
        rejection(repository.getAllCalls({ limit: 10 })),
        rejection(repository.createTranscript(aTranscript("t1", "c1", "hello"))),
        rejection(repository.createAnalytics(anAnalytics("a1", "c1"))),
        rejection(repository.deleteCall("c1")),
      ]);
      for (const failure of failures) {
        expect(failure.code).toBe("storage_unavailable");
        expect(failure.message).not.toMatch(/127\.0\.0\.1|secret|ECONNREFUSED|select|insert/i);
      }
      // The batch failed as a whole before its rows were retried one by one.
      expect(backgroundErrors).toHaveLength(1);
      expect(backgroundErrors[0]).toMatch(/retried row by row/);
    } finally {
      await repository.close();
    }
  });
});
