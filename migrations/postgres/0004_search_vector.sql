DROP INDEX "transcripts_search_idx";--> statement-breakpoint
ALTER TABLE "transcripts" ADD COLUMN "search_vector" "tsvector" GENERATED ALWAYS AS (to_tsvector('simple', callbridge_search_text(coalesce(heard_text, text)))) STORED;--> statement-breakpoint
CREATE INDEX "transcripts_search_idx" ON "transcripts" USING gin ("search_vector");