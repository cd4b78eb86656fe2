ALTER TABLE `calls` ADD `called` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `end_reason` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `turns` integer;--> statement-breakpoint
ALTER TABLE `calls` ADD `cost_usd` real;--> statement-breakpoint
ALTER TABLE `calls` ADD `sentiment` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `network_quality` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `avg_response_latency_ms` integer;--> statement-breakpoint
ALTER TABLE `calls` ADD `p95_response_latency_ms` integer;--> statement-breakpoint
ALTER TABLE `calls` ADD `topic` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `analysis_status` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `summary` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `outcome` text;--> statement-breakpoint
ALTER TABLE `calls` ADD `analysis_fields` text;--> statement-breakpoint
CREATE INDEX `calls_called_started_at_id_idx` ON `calls` (`called`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_end_reason_started_at_id_idx` ON `calls` (`end_reason`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_sentiment_started_at_id_idx` ON `calls` (`sentiment`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_outcome_started_at_id_idx` ON `calls` (`outcome`,`started_at`,`id`);