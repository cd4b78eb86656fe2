-- Custom SQL migration file, put your code below! --
-- Search reads what the caller heard: an interrupted assistant turn is indexed by its
-- heard_text (migration 0003), every other turn by its text. FTS5 re-reads the content of a row
-- for snippet() and takes the same values back in 'delete', so its content table must give the
-- indexed text: that is this view, not transcripts itself.
CREATE VIEW `transcripts_search_text` AS
	SELECT `seq`, coalesce(`heard_text`, `text`) AS `text` FROM `transcripts`;
--> statement-breakpoint
DROP TRIGGER `transcripts_fts_after_delete`;
--> statement-breakpoint
DROP TRIGGER `transcripts_fts_after_update`;
--> statement-breakpoint
DROP TABLE `transcripts_fts`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `transcripts_fts` USING fts5(
	`text`,
	content='transcripts_search_text',
	content_rowid='seq',
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
-- Indexes every existing row again (heard_text is null in all of them, so each is found by its
-- text as before), including rows that were waiting for the deferred index: the mark moves
-- past them, or the next catch-up would index them twice.
INSERT INTO `transcripts_fts`(`transcripts_fts`) VALUES ('rebuild');
--> statement-breakpoint
UPDATE `transcripts_fts_progress`
	SET `indexed_through` = max(`indexed_through`, coalesce((SELECT max(`seq`) FROM `transcripts`), 0));
--> statement-breakpoint
-- As in 0002, with the indexed text: only rows the index holds are taken out of it.
CREATE TRIGGER `transcripts_fts_after_delete` AFTER DELETE ON `transcripts`
WHEN old.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`) BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, `text`)
		VALUES ('delete', old.`seq`, coalesce(old.`heard_text`, old.`text`));
END;
--> statement-breakpoint
-- Storing what was heard of a turn already indexed re-indexes it by the heard words.
CREATE TRIGGER `transcripts_fts_after_update` AFTER UPDATE OF `seq`, `text`, `heard_text` ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, `text`)
		SELECT 'delete', old.`seq`, coalesce(old.`heard_text`, old.`text`)
		WHERE old.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`);
	INSERT INTO `transcripts_fts`(rowid, `text`)
		SELECT new.`seq`, coalesce(new.`heard_text`, new.`text`)
		WHERE new.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`);
END;
