CREATE TABLE `instances` (
	`id` text PRIMARY KEY NOT NULL,
	`renewed_at` integer NOT NULL,
	`lease_expires_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `calls` ADD `owner` text;