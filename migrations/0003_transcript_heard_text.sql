ALTER TABLE `transcripts` ADD `heard_text` text;--> statement-breakpoint
ALTER TABLE `transcripts` ADD `heard_ms` integer;--> statement-breakpoint
ALTER TABLE `transcripts` ADD `generated_ms` integer;