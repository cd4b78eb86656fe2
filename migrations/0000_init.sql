CREATE TABLE `analytics` (
	`id` text PRIMARY KEY NOT NULL,
	`call_id` text NOT NULL,
	`sentiment` text,
	`sentiment_score` real,
	`caller_talk_ms` integer NOT NULL,
	`assistant_talk_ms` integer NOT NULL,
	`silence_ms` integer NOT NULL,
	`interruptions` integer NOT NULL,
	`avg_response_latency_ms` integer,
	`p95_response_latency_ms` integer,
	`custom_metrics` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`call_id`) REFERENCES `calls`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `analytics_call_id_created_at_idx` ON `analytics` (`call_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `call_metadata` (
	`call_id` text PRIMARY KEY NOT NULL,
	`language` text,
	`region` text,
	`device_type` text,
	`network_quality` text,
	`custom_data` text,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`call_id`) REFERENCES `calls`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `calls` (
	`id` text PRIMARY KEY NOT NULL,
	`stream_sid` text NOT NULL,
	`call_sid` text,
	`caller` text,
	`status` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`duration_seconds` real,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `calls_stream_sid_unique` ON `calls` (`stream_sid`);--> statement-breakpoint
CREATE INDEX `calls_call_sid_idx` ON `calls` (`call_sid`);--> statement-breakpoint
CREATE INDEX `calls_started_at_id_idx` ON `calls` (`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_status_started_at_id_idx` ON `calls` (`status`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_caller_started_at_id_idx` ON `calls` (`caller`,`started_at`,`id`);--> statement-breakpoint
CREATE TABLE `recordings` (
	`id` text PRIMARY KEY NOT NULL,
	`call_id` text NOT NULL,
	`track` text NOT NULL,
	`format` text NOT NULL,
	`codec` text NOT NULL,
	`sample_rate` integer NOT NULL,
	`channels` integer NOT NULL,
	`size_bytes` integer NOT NULL,
	`duration_seconds` real NOT NULL,
	`file_key` text NOT NULL,
	`cloud_url` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`call_id`) REFERENCES `calls`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `recordings_call_id_idx` ON `recordings` (`call_id`);--> statement-breakpoint
CREATE TABLE `transcripts` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`call_id` text NOT NULL,
	`speaker` text NOT NULL,
	`text` text NOT NULL,
	`confidence` real,
	`offset_ms` integer,
	`interrupted` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`call_id`) REFERENCES `calls`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `transcripts_id_unique` ON `transcripts` (`id`);--> statement-breakpoint
CREATE INDEX `transcripts_call_id_offset_ms_seq_idx` ON `transcripts` (`call_id`,`offset_ms`,`seq`);