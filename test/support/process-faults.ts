import { afterAll, beforeAll } from "vitest";

/**
 * Collects every unhandled rejection and uncaught exception raised while this test file runs
 * (the server under test lives in the test's process). Call at module level; assert that the
 * returned list is empty: such a fault would end a production server.
 */
export function watchProcessFaults(): unknown[] {
  const faults: unknown[] = [];
  const onFault = (error: unknown) => faults.push(error);
  beforeAll(() => {
    process.on("unhandledRejection", onFault);
    process.on("uncaughtException", onFault);
  });
  afterAll(() => {
    process.off("unhandledRejection", onFault);
    process.off("uncaughtException", onFault);
  });
  return faults;
}
