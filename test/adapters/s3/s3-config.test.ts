import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config.ts";

describe("object storage configuration", () => {
  it("is off by default: the folder keeps the files", () => {
    expect(loadConfig({}).recordingArchive).toBeUndefined();
  });

  it.each([
    ["s3://recordings", "recordings", ""],
    ["s3://recordings/", "recordings", ""],
    ["s3://my.bucket-1/calls/2026/", "my.bucket-1", "calls/2026"],
  ])("reads %s as bucket %s, prefix '%s'", (url, bucket, prefix) => {
    expect(loadConfig({ RECORDING_STORAGE_URL: url }).recordingArchive).toEqual({
      bucket,
      prefix,
      forcePathStyle: false,
      presignedDownloads: false,
    });
  });

  it("takes path-style addressing and presigned downloads as switches", () => {
    const config = loadConfig({
      RECORDING_STORAGE_URL: "s3://recordings/x",
      S3_FORCE_PATH_STYLE: "true",
      S3_PRESIGNED_DOWNLOADS: "1",
    });
    expect(config.recordingArchive).toMatchObject({
      forcePathStyle: true,
      presignedDownloads: true,
    });
  });

  it.each([
    "https://bucket/prefix",
    "s3://",
    "s3://No_Such Bucket",
    "s3://ab",
    "s3://bucket/../escape",
    "s3://bucket/a//b",
    "s3://bucket/prefix?x=1",
  ])("refuses %s with one line naming the variable", (url) => {
    expect(() => loadConfig({ RECORDING_STORAGE_URL: url })).toThrow(
      /^Invalid configuration: RECORDING_STORAGE_URL must be s3:\/\/bucket or s3:\/\/bucket\/prefix/,
    );
  });

  it("refuses a switch that is not true or false", () => {
    expect(() => loadConfig({ S3_PRESIGNED_DOWNLOADS: "yes" })).toThrow(
      "Invalid configuration: S3_PRESIGNED_DOWNLOADS must be true or false",
    );
  });
});
