import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  computeTwilioSignature,
  isValidTwilioSignature,
  urlVariants,
} from "../../../src/adapters/twilio/signature.ts";

/**
 * Twilio's worked example: https://www.twilio.com/docs/usage/webhooks/webhooks-security
 * ("Let's walk through an example request": a POST to this URL with these fields, auth token 12345).
 */
const DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2";
const DOCS_TOKEN = "12345";
const DOCS_PARAMS = {
  CallSid: "CA1234567890ABCDE",
  Caller: "+12349013030",
  Digits: "1234",
  From: "+12349013030",
  To: "+18005551212",
};
const DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

describe("computeTwilioSignature", () => {
  it("reproduces the signature of Twilio's documented example", () => {
    expect(computeTwilioSignature(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS)).toBe(DOCS_SIGNATURE);
  });

  it("reproduces the twilio-php library's documented example (other phone numbers)", () => {
    // https://twilio-php.readthedocs.io/en/latest/usage/validation.html
    const params = {
      ...DOCS_PARAMS,
      Caller: "+14158675309",
      From: "+14158675309",
    };
    expect(computeTwilioSignature(DOCS_TOKEN, DOCS_URL, params)).toBe(
      "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    );
  });

  it("does not depend on the order in which the parameters are given", () => {
    const reversed = Object.fromEntries(Object.entries(DOCS_PARAMS).reverse());
    expect(computeTwilioSignature(DOCS_TOKEN, DOCS_URL, reversed)).toBe(DOCS_SIGNATURE);
  });

  it("signs the URL alone when there are no parameters (the media-stream upgrade)", () => {
    const url = "wss://example.ngrok.app/twilio/media-stream";
    const expected = createHmac("sha1", "token").update(url).digest("base64");
    expect(computeTwilioSignature("token", url)).toBe(expected);
  });

  it("sorts parameter names by code unit, as Twilio does, so upper case sorts first", () => {
    const expected = createHmac("sha1", "t").update("https://x/yZ1a2").digest("base64");
    expect(computeTwilioSignature("t", "https://x/y", { a: "2", Z: "1" })).toBe(expected);
  });
});

describe("urlVariants", () => {
  it("adds the default https port to a URL without one", () => {
    expect(urlVariants("https://example.com/twilio/voice?x=1")).toEqual([
      "https://example.com/twilio/voice?x=1",
      "https://example.com:443/twilio/voice?x=1",
    ]);
  });

  it("removes the default https port from a URL that has it", () => {
    expect(urlVariants("https://example.com:443/twilio/voice")).toEqual([
      "https://example.com:443/twilio/voice",
      "https://example.com/twilio/voice",
    ]);
  });

  it("handles port 80 for http and ws, and 443 for wss", () => {
    expect(urlVariants("http://example.com/a")).toContain("http://example.com:80/a");
    expect(urlVariants("ws://example.com:80/a")).toContain("ws://example.com/a");
    expect(urlVariants("wss://example.com/a")).toContain("wss://example.com:443/a");
  });

  it("leaves a non-default port alone", () => {
    expect(urlVariants("https://example.com:8443/a")).toEqual(["https://example.com:8443/a"]);
    expect(urlVariants("http://127.0.0.1:3000/a")).toEqual(["http://127.0.0.1:3000/a"]);
  });

  it("keeps user info, query and fragment exactly as given", () => {
    expect(urlVariants("https://user:pw@example.com/a?b=%20c#d")).toEqual([
      "https://user:pw@example.com/a?b=%20c#d",
      "https://user:pw@example.com:443/a?b=%20c#d",
    ]);
  });

  it("keeps the path and query byte for byte, without URL normalization", () => {
    expect(urlVariants("https://example.com/a/../b?q=a b&r=%7e")).toEqual([
      "https://example.com/a/../b?q=a b&r=%7e",
      "https://example.com:443/a/../b?q=a b&r=%7e",
    ]);
  });

  it("handles IPv6 hosts and a URL with no path", () => {
    expect(urlVariants("https://[::1]:443/a")).toEqual(["https://[::1]:443/a", "https://[::1]/a"]);
    expect(urlVariants("https://example.com")).toEqual([
      "https://example.com",
      "https://example.com:443",
    ]);
  });

  it("leaves schemes without a known default port alone", () => {
    expect(urlVariants("ftp://example.com/a")).toEqual(["ftp://example.com/a"]);
  });

  it("returns an unparseable URL unchanged", () => {
    expect(urlVariants("not a url")).toEqual(["not a url"]);
  });
});

describe("isValidTwilioSignature", () => {
  it("accepts Twilio's documented example", () => {
    expect(isValidTwilioSignature(DOCS_TOKEN, DOCS_SIGNATURE, DOCS_URL, DOCS_PARAMS)).toBe(true);
  });

  it("accepts a signature made over the URL with the default port written out", () => {
    const withPort = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    const signature = computeTwilioSignature(DOCS_TOKEN, withPort, DOCS_PARAMS);
    expect(isValidTwilioSignature(DOCS_TOKEN, signature, DOCS_URL, DOCS_PARAMS)).toBe(true);
    expect(isValidTwilioSignature(DOCS_TOKEN, DOCS_SIGNATURE, withPort, DOCS_PARAMS)).toBe(true);
  });

  it("refuses the right signature checked with the wrong auth token", () => {
    expect(isValidTwilioSignature("54321", DOCS_SIGNATURE, DOCS_URL, DOCS_PARAMS)).toBe(false);
  });

  it("refuses a request whose parameter was tampered with", () => {
    const tampered = { ...DOCS_PARAMS, Digits: "9999" };
    expect(isValidTwilioSignature(DOCS_TOKEN, DOCS_SIGNATURE, DOCS_URL, tampered)).toBe(false);
  });

  it("refuses a request with an extra parameter", () => {
    const extra = { ...DOCS_PARAMS, Extra: "" };
    expect(isValidTwilioSignature(DOCS_TOKEN, DOCS_SIGNATURE, DOCS_URL, extra)).toBe(false);
  });

  it("refuses a request for another URL", () => {
    const other = "https://mycompany.com/myapp.php?foo=1&bar=3";
    expect(isValidTwilioSignature(DOCS_TOKEN, DOCS_SIGNATURE, other, DOCS_PARAMS)).toBe(false);
    const http = "http://mycompany.com/myapp.php?foo=1&bar=2";
    expect(isValidTwilioSignature(DOCS_TOKEN, DOCS_SIGNATURE, http, DOCS_PARAMS)).toBe(false);
  });

  it("refuses a missing or empty header", () => {
    expect(isValidTwilioSignature(DOCS_TOKEN, undefined, DOCS_URL, DOCS_PARAMS)).toBe(false);
    expect(isValidTwilioSignature(DOCS_TOKEN, "", DOCS_URL, DOCS_PARAMS)).toBe(false);
  });

  it("refuses headers of another length without throwing", () => {
    for (const signature of [
      DOCS_SIGNATURE.slice(0, -1),
      `${DOCS_SIGNATURE}=`,
      `${DOCS_SIGNATURE}${DOCS_SIGNATURE}`,
      "x",
      // Same character count, more bytes: timingSafeEqual would throw on unequal buffers.
      `é${DOCS_SIGNATURE.slice(1)}`,
    ]) {
      expect(isValidTwilioSignature(DOCS_TOKEN, signature, DOCS_URL, DOCS_PARAMS)).toBe(false);
    }
  });

  it("refuses a signature that differs in one character only", () => {
    const flipped = `1${DOCS_SIGNATURE.slice(1)}`;
    expect(isValidTwilioSignature(DOCS_TOKEN, flipped, DOCS_URL, DOCS_PARAMS)).toBe(false);
  });
});
