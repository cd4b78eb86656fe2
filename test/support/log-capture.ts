import { Writable } from "node:stream";

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** A destination for pino that keeps every line, for tests that read the log. */
export class LogCapture extends Writable {
  private text = "";

  override _write(chunk: Buffer | string, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }

  /** Everything written so far, raw. */
  get raw(): string {
    return this.text;
  }

  get lines(): LogLine[] {
    return this.text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as LogLine);
  }

  withMessage(msg: string): LogLine[] {
    return this.lines.filter((line) => line.msg === msg);
  }
}
