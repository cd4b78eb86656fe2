import Sentiment from "sentiment";
import type { SentimentAnalyzer } from "../../application/ports/index.ts";

/** AFINN-165 word valences via the `sentiment` package. */
export class AfinnSentimentAnalyzer implements SentimentAnalyzer {
  private readonly engine = new Sentiment();

  analyze(text: string): { score: number; comparative: number } {
    const { score, comparative } = this.engine.analyze(text);
    return { score, comparative: Number.isFinite(comparative) ? comparative : 0 };
  }
}
