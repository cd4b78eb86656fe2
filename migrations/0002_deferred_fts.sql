-- Custom SQL migration file, put your code below! --
-- The full-text index is brought up to date in batches (see deferred-fts-index.ts) instead of
-- by a trigger on every insert: each commit that touched the index wrote a new FTS5 segment,
-- which halved the insert rate of transcripts. `indexed_through` is the highest transcripts.seq
-- the index holds; seq only grows (AUTOINCREMENT), so every row above it is waiting.
CREATE TABLE `transcripts_fts_progress` (
	`id` integer PRIMARY KEY NOT NULL CHECK (`id` = 1),
	`indexed_through` integer NOT NULL
);
--> statement-breakpoint
-- Every existing row was indexed by the insert trigger of 0001.
INSERT INTO `transcripts_fts_progress` (`id`, `indexed_through`)
	SELECT 1, coalesce(max(`seq`), 0) FROM `transcripts`;
--> statement-breakpoint
DROP TRIGGER `transcripts_fts_after_insert`;
--> statement-breakpoint
DROP TRIGGER `transcripts_fts_after_delete`;
--> statement-breakpoint
DROP TRIGGER `transcripts_fts_after_update`;
--> statement-breakpoint
-- Only rows the index holds are taken out of it: FTS5 'delete' of a row it never held would
-- corrupt the index.
CREATE TRIGGER `transcripts_fts_after_delete` AFTER DELETE ON `transcripts`
WHEN old.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`) BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, `text`) VALUES ('delete', old.`seq`, old.`text`);
END;
--> statement-breakpoint
CREATE TRIGGER `transcripts_fts_after_update` AFTER UPDATE OF `seq`, `text` ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, `text`)
		SELECT 'delete', old.`seq`, old.`text`
		WHERE old.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`);
	INSERT INTO `transcripts_fts`(rowid, `text`)
		SELECT new.`seq`, new.`text`
		WHERE new.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`);
END;
