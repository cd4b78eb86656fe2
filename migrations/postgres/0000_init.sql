CREATE TABLE "analytics" (
	"id" text PRIMARY KEY NOT NULL,
	"call_id" text NOT NULL,
	"sentiment" text,
	"sentiment_score" double precision,
	"caller_talk_ms" integer NOT NULL,
	"assistant_talk_ms" integer NOT NULL,
	"silence_ms" integer NOT NULL,
	"interruptions" integer NOT NULL,
	"avg_response_latency_ms" integer,
	"p95_response_latency_ms" integer,
	"custom_metrics" json,
	"created_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "call_metadata" (
	"call_id" text PRIMARY KEY NOT NULL,
	"language" text,
	"region" text,
	"device_type" text,
	"network_quality" text,
	"custom_data" json,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "calls" (
	"id" text PRIMARY KEY NOT NULL,
	"stream_sid" text NOT NULL,
	"call_sid" text,
	"caller" text,
	"status" text NOT NULL,
	"started_at" timestamp (3) with time zone NOT NULL,
	"ended_at" timestamp (3) with time zone,
	"duration_seconds" double precision,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recordings" (
	"id" text PRIMARY KEY NOT NULL,
	"call_id" text NOT NULL,
	"track" text NOT NULL,
	"format" text NOT NULL,
	"codec" text NOT NULL,
	"sample_rate" integer NOT NULL,
	"channels" integer NOT NULL,
	"size_bytes" bigint NOT NULL,
	"duration_seconds" double precision NOT NULL,
	"file_key" text NOT NULL,
	"cloud_url" text,
	"created_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "transcripts" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "transcripts_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"call_id" text NOT NULL,
	"speaker" text NOT NULL,
	"text" text NOT NULL,
	"confidence" double precision,
	"offset_ms" integer,
	"interrupted" boolean DEFAULT false NOT NULL,
	"heard_text" text,
	"heard_ms" integer,
	"generated_ms" integer,
	"failed" boolean DEFAULT false NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "analytics" ADD CONSTRAINT "analytics_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "call_metadata" ADD CONSTRAINT "call_metadata_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "recordings" ADD CONSTRAINT "recordings_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transcripts" ADD CONSTRAINT "transcripts_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "analytics_call_id_created_at_idx" ON "analytics" USING btree ("call_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "calls_stream_sid_unique" ON "calls" USING btree ("stream_sid");--> statement-breakpoint
CREATE INDEX "calls_call_sid_idx" ON "calls" USING btree ("call_sid");--> statement-breakpoint
CREATE INDEX "calls_started_at_id_idx" ON "calls" USING btree ("started_at","id");--> statement-breakpoint
CREATE INDEX "calls_status_started_at_id_idx" ON "calls" USING btree ("status","started_at","id");--> statement-breakpoint
CREATE INDEX "calls_caller_started_at_id_idx" ON "calls" USING btree ("caller","started_at","id");--> statement-breakpoint
CREATE INDEX "recordings_call_id_idx" ON "recordings" USING btree ("call_id");--> statement-breakpoint
CREATE UNIQUE INDEX "transcripts_id_unique" ON "transcripts" USING btree ("id");--> statement-breakpoint
CREATE INDEX "transcripts_call_id_offset_ms_seq_idx" ON "transcripts" USING btree ("call_id","offset_ms","seq");--> statement-breakpoint
CREATE INDEX "transcripts_search_idx" ON "transcripts" USING gin (to_tsvector('simple', coalesce("heard_text", "text")));