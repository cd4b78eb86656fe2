import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeTimersClock, SettableClock, sequentialIds } from "../support/fake-clock.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("fakeTimersClock", () => {
  it("moves with vi's fake timers, in step with the timers they fire", () => {
    vi.useFakeTimers({ now: new Date("2026-01-01T10:00:00.000Z") });
    const seen: number[] = [];
    setTimeout(() => seen.push(fakeTimersClock.now().getTime()), 250);
    vi.advanceTimersByTime(1000);
    expect(seen).toEqual([Date.parse("2026-01-01T10:00:00.250Z")]);
    expect(fakeTimersClock.now().toISOString()).toBe("2026-01-01T10:00:01.000Z");
  });
});

describe("SettableClock", () => {
  it("stands still until set or advanced, and hands out fresh Dates", () => {
    const clock = new SettableClock(new Date("2026-01-01T10:00:00.000Z"));
    const first = clock.now();
    first.setTime(0);
    expect(clock.now().toISOString()).toBe("2026-01-01T10:00:00.000Z");
    clock.advance(1500);
    expect(clock.now().toISOString()).toBe("2026-01-01T10:00:01.500Z");
    clock.set(0);
    expect(clock.now().getTime()).toBe(0);
  });
});

describe("sequentialIds", () => {
  it("numbers ids so that they sort in the order they were made", () => {
    const ids = sequentialIds("call");
    const made = Array.from({ length: 12 }, () => ids.newId());
    expect(made[0]).toBe("call-000001");
    expect([...made].sort()).toEqual(made);
    expect(ids.issued).toBe(12);
    expect(sequentialIds().newId()).toBe("id-000001");
  });
});
