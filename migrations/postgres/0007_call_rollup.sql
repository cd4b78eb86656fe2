CREATE TABLE "call_rollup" (
	"dim" text NOT NULL,
	"value" text NOT NULL,
	"hour" integer NOT NULL,
	"calls" integer NOT NULL,
	"active" integer NOT NULL,
	"failed" integer NOT NULL,
	"duration_ms" bigint NOT NULL,
	"cost_nanos" bigint NOT NULL,
	"costs" integer NOT NULL,
	"latency_sum_ms" bigint NOT NULL,
	"latencies" integer NOT NULL,
	"p95s" integer NOT NULL,
	CONSTRAINT "call_rollup_dim_value_hour_pk" PRIMARY KEY("dim","value","hour")
);
--> statement-breakpoint
DROP INDEX "calls_started_at_id_idx";--> statement-breakpoint
CREATE INDEX "calls_started_at_id_caller_idx" ON "calls" USING btree ("started_at","id","caller");--> statement-breakpoint
CREATE INDEX "calls_duration_seconds_started_at_id_idx" ON "calls" USING btree ("duration_seconds","started_at","id");--> statement-breakpoint
CREATE INDEX "calls_cost_usd_started_at_id_idx" ON "calls" USING btree ("cost_usd","started_at","id");--> statement-breakpoint
CREATE INDEX "calls_p95_latency_started_at_id_facts_idx" ON "calls" USING btree ("p95_response_latency_ms","started_at","id","status","end_reason","sentiment","outcome","called");