-- Custom SQL migration file, put your code below! --
-- Every distinct token of the full-text index, so that a search can match a prefix ("refund",
-- from "refunds", finds "refunded" too) as an OR of the whole words it starts: FTS5 reads an OR
-- of words lazily, newest row first, but gathers every match of every word a prefix query
-- `"refund"*` starts before its first row (transcripts_fts has no prefix index). See
-- transcript-search.ts and fts-query.ts (MAX_PREFIX_TERMS). A term no row holds any more (its
-- transcripts deleted) stays: it matches nothing. Tokens that start with a digit are left out:
-- a prefix never has a digit in it (fts-query.ts, searchTerm), so none of them is ever asked
-- for, and they are most of what is distinct in transcripts (order, phone and card numbers).
CREATE TABLE `search_terms` (
	`term` text PRIMARY KEY NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
-- The text of transcripts whose tokens are not in search_terms yet, cut into tokens by FTS5's own
-- tokenizer, as transcripts_fts cuts them (only FTS5 knows them exactly: unicode61's folding is
-- not JavaScript's for many scripts). DeferredFtsIndex moves the tokens over to search_terms
-- (through the vocabulary table below) and empties it in every catch-up, which every search runs
-- first. Contentless and without positions: it holds nothing but which tokens there are.
CREATE VIRTUAL TABLE `search_terms_pending` USING fts5(
	`text`,
	content='',
	detail='none',
	columnsize=0,
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
CREATE VIRTUAL TABLE `search_terms_pending_vocab` USING fts5vocab(`search_terms_pending`, 'row');
--> statement-breakpoint
-- Whatever moves the index's mark indexed the rows it moves over (DeferredFtsIndex's catch-up,
-- or any tool that indexes as it does): their text waits here for search_terms. The trigger
-- only writes to an FTS5 table: reading the vocabulary table in a trigger would fail on a
-- connection with trusted_schema off.
CREATE TRIGGER `search_terms_pending_after_indexing` AFTER UPDATE OF `indexed_through` ON `transcripts_fts_progress`
WHEN new.`indexed_through` > old.`indexed_through` BEGIN
	INSERT INTO `search_terms_pending`(rowid, `text`)
		SELECT `seq`, `text` FROM `transcripts_search_text`
		WHERE `seq` > old.`indexed_through` AND `seq` <= new.`indexed_through`;
END;
--> statement-breakpoint
-- A row the index holds already is indexed again by its new text (transcripts_fts_after_update,
-- migration 0004): what the caller heard of a turn may end in a word cut short.
CREATE TRIGGER `search_terms_pending_after_update` AFTER UPDATE OF `seq`, `text`, `heard_text` ON `transcripts`
WHEN new.`seq` <= (SELECT `indexed_through` FROM `transcripts_fts_progress`) BEGIN
	INSERT INTO `search_terms_pending`(rowid, `text`)
		VALUES (new.`seq`, coalesce(new.`heard_text`, new.`text`));
END;
--> statement-breakpoint
-- The tokens of every row indexed so far, read from the index itself. Rows still waiting for the
-- index get theirs when the catch-up moves the mark over them.
CREATE VIRTUAL TABLE temp.`transcripts_fts_vocab` USING fts5vocab(main, `transcripts_fts`, 'row');
--> statement-breakpoint
INSERT INTO `search_terms`(`term`)
	SELECT `term` FROM temp.`transcripts_fts_vocab` WHERE `term` NOT GLOB '[0-9]*';
--> statement-breakpoint
DROP TABLE temp.`transcripts_fts_vocab`;
