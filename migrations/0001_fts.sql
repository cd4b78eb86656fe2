-- Custom SQL migration file, put your code below! --
-- Full-text index over transcripts.text. External content: the text lives once, in transcripts;
-- the triggers below keep the index in step with every insert, delete and update.
CREATE VIRTUAL TABLE `transcripts_fts` USING fts5(
	`text`,
	content='transcripts',
	content_rowid='seq',
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
CREATE TRIGGER `transcripts_fts_after_insert` AFTER INSERT ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(rowid, `text`) VALUES (new.`seq`, new.`text`);
END;
--> statement-breakpoint
CREATE TRIGGER `transcripts_fts_after_delete` AFTER DELETE ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, `text`) VALUES ('delete', old.`seq`, old.`text`);
END;
--> statement-breakpoint
CREATE TRIGGER `transcripts_fts_after_update` AFTER UPDATE OF `seq`, `text` ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, `text`) VALUES ('delete', old.`seq`, old.`text`);
	INSERT INTO `transcripts_fts`(rowid, `text`) VALUES (new.`seq`, new.`text`);
END;
--> statement-breakpoint
-- Indexes whatever transcripts exist already, so the migration is correct on a populated database.
INSERT INTO `transcripts_fts`(`transcripts_fts`) VALUES ('rebuild');
