import { describe, expect, it } from "vitest";
import { connectStreamTwiml, escapeXml } from "../../../src/adapters/twilio/twiml.ts";

const unescapeXml = (value: string): string =>
  value
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");

/** Every <Parameter/> of the document, unescaped; fails on anything that is not one. */
function parameters(twiml: string): Record<string, string> {
  const inner = /<Stream url="[^"<>]*">(.*)<\/Stream>/.exec(twiml)?.[1];
  if (inner === undefined) throw new Error(`no <Stream> in ${twiml}`);
  const out: Record<string, string> = {};
  const rest = inner.replace(/<Parameter name="([^"<>]*)" value="([^"<>]*)"\/>/g, (_, n, v) => {
    out[unescapeXml(n)] = unescapeXml(v);
    return "";
  });
  if (rest !== "") throw new Error(`unexpected markup inside <Stream>: ${rest}`);
  return out;
}

describe("escapeXml", () => {
  it("escapes the five XML special characters and nothing else", () => {
    expect(escapeXml(`a&b<c>d"e'f é 😀`)).toBe("a&amp;b&lt;c&gt;d&quot;e&apos;f é 😀");
  });

  it("escapes an ampersand first, so entities in the input are not double-decoded", () => {
    expect(escapeXml("&amp;")).toBe("&amp;amp;");
  });
});

describe("connectStreamTwiml", () => {
  it("connects the call to the stream URL with the parameters", () => {
    const twiml = connectStreamTwiml("wss://example.com/twilio/media-stream", {
      caller: "+15551234567",
      callSid: "CA123",
    });
    expect(twiml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>' +
        '<Stream url="wss://example.com/twilio/media-stream">' +
        '<Parameter name="caller" value="+15551234567"/>' +
        '<Parameter name="callSid" value="CA123"/>' +
        "</Stream></Connect></Response>",
    );
  });

  it("escapes hostile parameter values and names so they cannot break out of the attribute", () => {
    const hostile = `"/><Say>pwned</Say><Parameter name="x" value='&amp;<>`;
    const hostileName = `n"a'm<e>&`;
    const twiml = connectStreamTwiml("wss://example.com/twilio/media-stream", {
      caller: hostile,
      [hostileName]: "v",
    });
    expect(twiml).not.toContain("<Say>");
    expect(parameters(twiml)).toEqual({ caller: hostile, [hostileName]: "v" });
  });

  it("escapes the stream URL", () => {
    const twiml = connectStreamTwiml('wss://example.com/s?a=1&b="2"', {});
    expect(twiml).toContain('<Stream url="wss://example.com/s?a=1&amp;b=&quot;2&quot;">');
  });

  it("leaves out parameters with an empty value", () => {
    const twiml = connectStreamTwiml("wss://example.com/s", { caller: "", callSid: "CA1" });
    expect(parameters(twiml)).toEqual({ callSid: "CA1" });
  });
});
