/**
 * Turn scripts: what a simulated caller says and what the fake assistant answers, turn by turn.
 *
 * The fake OpenAI Realtime server cannot understand audio, so a demo call says what its script
 * says: `npm run simulate` registers the script with the demo's fake (see scripts/demo.ts and
 * `FakeRealtimeServer`'s script endpoint), which then transcribes the call's n-th caller turn
 * (as its server VAD cuts the audio into turns) as the script's n-th caller line, and answers it
 * with the scripted assistant line or, without one, with `replyTo(line)`. Deterministic: no
 * speech synthesis; the answer's audio is a voice-like signal as long as its text would take to
 * say (`spokenAudio`).
 */

/** One call's script. `assistant[i]` answers `caller[i]`; null or missing: `replyTo(caller[i])`. */
export interface TurnScript {
  caller: string[];
  assistant?: (string | null)[];
}

export const MAX_SCRIPT_LINES = 100;
export const MAX_LINE_CHARS = 1000;

export class ScriptError extends Error {}

/**
 * A script file: one caller turn per line; a line starting with `assistant:` scripts the answer
 * to the caller line before it (a `caller:` prefix is allowed and dropped). Blank lines and lines
 * starting with `#` are skipped.
 */
export function parseTurnScript(text: string): TurnScript {
  const caller: string[] = [];
  const assistant: (string | null)[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const prefixed = /^(caller|assistant)\s*:\s*(.*)$/i.exec(raw);
    const who = prefixed?.[1]?.toLowerCase() ?? "caller";
    const said = (prefixed?.[2] ?? raw).trim();
    if (said === "") throw new ScriptError(`line ${n + 1}: nothing after "${who}:"`);
    if (who === "caller") {
      caller.push(said);
      assistant.push(null);
      continue;
    }
    if (caller.length === 0) {
      throw new ScriptError(`line ${n + 1}: an assistant line must follow a caller line`);
    }
    if (assistant[caller.length - 1] !== null) {
      throw new ScriptError(`line ${n + 1}: a second assistant line for the same caller line`);
    }
    assistant[caller.length - 1] = said;
  }
  const script = assistant.some((a) => a !== null) ? { caller, assistant } : { caller };
  return checkTurnScript(script);
}

/** `value` as a TurnScript (e.g. a parsed JSON body), or a ScriptError saying what is wrong. */
export function checkTurnScript(value: unknown): TurnScript {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ScriptError("a script is an object { caller: string[], assistant?: string[] }");
  }
  const { caller, assistant } = value as { caller?: unknown; assistant?: unknown };
  const lines = (v: unknown, name: string, nullable: boolean): (string | null)[] => {
    if (!Array.isArray(v)) throw new ScriptError(`${name} must be an array of lines`);
    if (v.length > MAX_SCRIPT_LINES) {
      throw new ScriptError(`${name} has ${v.length} lines, at most ${MAX_SCRIPT_LINES}`);
    }
    return v.map((line, i) => {
      if (line === null && nullable) return null;
      if (typeof line !== "string" || line.trim() === "") {
        throw new ScriptError(`${name}[${i}] must be a non-empty string`);
      }
      if (line.length > MAX_LINE_CHARS) {
        throw new ScriptError(`${name}[${i}] is longer than ${MAX_LINE_CHARS} characters`);
      }
      return line.trim();
    });
  };
  const callerLines = lines(caller, "caller", false) as string[];
  if (callerLines.length === 0) throw new ScriptError("caller must have at least one line");
  if (assistant === undefined) return { caller: callerLines };
  const assistantLines = lines(assistant, "assistant", true);
  if (assistantLines.length > callerLines.length) {
    throw new ScriptError("assistant has more lines than caller");
  }
  return { caller: callerLines, assistant: assistantLines };
}

const PERSON_SWAP: Record<string, string> = {
  i: "you",
  "i'm": "you're",
  "i've": "you've",
  "i'll": "you'll",
  "i'd": "you'd",
  me: "you",
  my: "your",
  mine: "yours",
  myself: "yourself",
  "you're": "I'm",
  "you've": "I've",
  "you'll": "I'll",
  "you'd": "I'd",
  your: "my",
  yours: "mine",
  yourself: "myself",
};
/** Words after which "you" is a subject ("I"), not an object ("me"). */
const BEFORE_SUBJECT = new Set(["", "and", "but", "if", "so", "because", "that", "when", "since"]);

/** "You charged me twice" -> "I charged you twice" (the assistant repeats it back). */
function swapPersons(text: string): string {
  let previous = "";
  let subjectYou = false;
  return text.replace(/[A-Za-z']+/g, (word) => {
    const lower = word.toLowerCase();
    let out: string;
    if (lower === "you") {
      subjectYou = BEFORE_SUBJECT.has(previous);
      out = subjectYou ? "I" : "me";
    } else if (subjectYou && (lower === "are" || lower === "were")) {
      out = lower === "are" ? "am" : "was";
      subjectYou = false;
    } else if (previous === "i" && (lower === "am" || lower === "was")) {
      out = lower === "am" ? "are" : "were";
      subjectYou = false;
    } else {
      out = PERSON_SWAP[lower] ?? word;
      subjectYou = false;
    }
    previous = lower;
    return out;
  });
}

/**
 * The fake assistant's answer to one caller line, when the script gives none: a small rule set
 * that repeats the line back, so that each call's answers follow what its caller said. `null` is
 * a turn the fake could not transcribe.
 */
export function replyTo(line: string | null): string {
  const text = (line ?? "").trim();
  if (text === "") return "Sorry, I didn't catch that. Could you say it again?";
  if (/\b(bye|goodbye)\b/i.test(text) || /^(thanks|thank you)\b[\s,.!]*$/i.test(text)) {
    return "You're welcome. Goodbye!";
  }
  const greeting = /^(hi|hello|hey|good (morning|afternoon|evening))( there)?\b[\s,.!]*/i.exec(
    text,
  );
  const rest = text.slice(greeting?.[0].length ?? 0).trim();
  const hello = greeting ? "Hello! " : "";
  if (rest === "") return "Hello! How can I help you today?";
  const core = rest.replace(/[\s.!?]+$/, "");
  const please = /^please\s+(.+)$/i.exec(core);
  if (please) return `${hello}Sure, I will ${swapPersons(please[1]!)}.`;
  if (rest.endsWith("?"))
    return `${hello}You asked: ${lowerFirst(core)}? Let me check that for you.`;
  return `${hello}Got it: ${lowerFirst(swapPersons(core))}.`;
}

/** Sentence openers that are no name: lowercased when the line is quoted mid-sentence. */
const OPENERS = new Set(
  (
    "a an and are but can could did do does he her his how is it it's its me my no ok okay " +
    "please she so that the their there they this we what when where which who why will would " +
    "yes you you're your"
  ).split(" "),
);

/** "Can you" -> "can you" in the middle of a sentence; "I" and "Ada" stay as they are. */
function lowerFirst(text: string): string {
  const first = /^[A-Za-z']+/.exec(text)?.[0].toLowerCase() ?? "";
  return OPENERS.has(first) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

/** Milliseconds of "speech" per character of text: about 16 characters a second. */
export const SPEECH_MS_PER_CHAR = 60;

/**
 * Deterministic voice-like audio for `text` at `rate`: one voiced burst per word (a gliding
 * fundamental between 110 and 190 Hz, chosen from the word, with a few harmonics), lasting in
 * proportion to the word's length, with short gaps between words and longer ones after
 * punctuation. Not speech, but a recording of it looks and sounds like someone talking, and its
 * length follows the text.
 */
export function spokenAudio(
  text: string,
  rate: number,
  msPerChar = SPEECH_MS_PER_CHAR,
): Int16Array {
  const words = text.split(/\s+/).filter((w) => w !== "");
  const parts: { samples: number; f0: number; gapAfter: number }[] = [];
  let total = 0;
  for (const word of words) {
    const samples = Math.round((Math.max(2, word.length) * msPerChar * rate) / 1000);
    let hash = 0;
    for (let i = 0; i < word.length; i++) hash = (hash * 31 + word.charCodeAt(i)) >>> 0;
    const gapMs = /[.!?]$/.test(word) ? 300 : /[,;:]$/.test(word) ? 180 : 60;
    const gapAfter = Math.round((gapMs * rate) / 1000);
    parts.push({ samples, f0: 110 + (hash % 80), gapAfter });
    total += samples + gapAfter;
  }
  const out = new Int16Array(total);
  const ramp = Math.round(0.015 * rate);
  const nyquist = rate / 2 - 100;
  let offset = 0;
  for (const { samples, f0, gapAfter } of parts) {
    let phase = 0;
    for (let i = 0; i < samples; i++) {
      const t = i / rate;
      const f = f0 * (1 + 0.08 * Math.sin(2 * Math.PI * 2.5 * t));
      phase += (2 * Math.PI * f) / rate;
      let v = 0;
      for (let h = 1; h <= 6 && f * h < Math.min(3400, nyquist); h++) v += Math.sin(h * phase) / h;
      const edge = Math.min(1, i / ramp, (samples - 1 - i) / ramp);
      out[offset + i] = Math.round(0.3 * 32767 * 0.4 * v * Math.max(0, edge));
    }
    offset += samples + gapAfter;
  }
  return out;
}
