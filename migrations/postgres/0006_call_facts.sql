ALTER TABLE "calls" ADD COLUMN "called" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "end_reason" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "turns" integer;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "cost_usd" double precision;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "sentiment" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "network_quality" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "avg_response_latency_ms" integer;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "p95_response_latency_ms" integer;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "topic" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "analysis_status" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "summary" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "outcome" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "analysis_fields" json;--> statement-breakpoint
CREATE INDEX "calls_called_started_at_id_idx" ON "calls" USING btree ("called","started_at","id");--> statement-breakpoint
CREATE INDEX "calls_end_reason_started_at_id_idx" ON "calls" USING btree ("end_reason","started_at","id");--> statement-breakpoint
CREATE INDEX "calls_sentiment_started_at_id_idx" ON "calls" USING btree ("sentiment","started_at","id");--> statement-breakpoint
CREATE INDEX "calls_outcome_started_at_id_idx" ON "calls" USING btree ("outcome","started_at","id");