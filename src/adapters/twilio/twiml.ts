const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

export const escapeXml = (value: string): string =>
  value.replace(/[&<>"']/g, (ch) => XML_ESCAPES[ch] ?? ch);

/**
 * TwiML that connects the call to our media stream. Parameters come back to us in the
 * stream's `start.customParameters`.
 * https://www.twilio.com/docs/voice/twiml/stream
 */
export function connectStreamTwiml(streamUrl: string, parameters: Record<string, string>): string {
  const params = Object.entries(parameters)
    .filter(([, value]) => value !== "")
    .map(([name, value]) => `<Parameter name="${escapeXml(name)}" value="${escapeXml(value)}"/>`)
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${escapeXml(streamUrl)}">${params}</Stream></Connect></Response>`;
}
