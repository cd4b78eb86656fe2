-- Calls and recordings are listed in id order (ties of the keyset paging, the retention scan).
-- SQLite compares ids byte by byte; PostgreSQL compares text in the database's collation,
-- which may sort "B" before "a" or ignore punctuation. The "C" collation on the column makes
-- both backends order ids the same way, and keeps the (started_at, id) indexes usable by those
-- ORDER BYs (an index serves only comparisons in its own collation). Changing the type rebuilds
-- the indexes on these columns in place; no row is rewritten or lost.
ALTER TABLE "calls" ALTER COLUMN "id" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "recordings" ALTER COLUMN "id" SET DATA TYPE text COLLATE "C";
