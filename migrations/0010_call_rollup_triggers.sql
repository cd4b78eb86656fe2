-- Custom SQL migration file, put your code below! --
-- Triggers on calls keep call_rollup (0009) and the callers' trigram index in step with every
-- write, in the same transaction. A later migration that rebuilds `calls` (drizzle-kit's
-- CREATE __new_calls / DROP / RENAME) drops these triggers with the old table: it must create
-- them again, and refill call_rollup and callers as the last statements below do.
-- What a call adds to call_rollup: +1 per row of its hour for all calls and for each fact it
-- has, its duration, cost and latencies. An update takes the old row's share out and puts the new
-- row's in (only when a column the rollup reads changed: ending a call, its analysis); a delete
-- takes it out. The sums group by key first, so one statement touches each rollup row once.
CREATE TRIGGER `calls_rollup_after_insert` AFTER INSERT ON `calls` BEGIN
	INSERT INTO `call_rollup` (`dim`, `value`, `hour`, `calls`, `active`, `failed`, `duration_ms`, `cost_nanos`, `costs`, `latency_sum_ms`, `latencies`, `p95s`)
	SELECT `dim`, `value`, `hour`, sum(`calls`), sum(`active`), sum(`failed`), sum(`duration_ms`), sum(`cost_nanos`), sum(`costs`), sum(`latency_sum_ms`), sum(`latencies`), sum(`p95s`) FROM (
	SELECT k.`dim`, k.`value`, new.`started_at` / 3600000 AS `hour`,
		1 AS `calls`, 1 * (new.`status` = 'active') AS `active`, 1 * (new.`status` = 'failed') AS `failed`,
		1 * coalesce(CAST(round(new.`duration_seconds` * 1000) AS INTEGER), 0) AS `duration_ms`,
		1 * coalesce(CAST(round(new.`cost_usd` * 1000000000) AS INTEGER), 0) AS `cost_nanos`,
		1 * (new.`cost_usd` IS NOT NULL) AS `costs`,
		1 * coalesce(new.`avg_response_latency_ms`, 0) AS `latency_sum_ms`,
		1 * (new.`avg_response_latency_ms` IS NOT NULL) AS `latencies`,
		1 * (new.`p95_response_latency_ms` IS NOT NULL) AS `p95s`
	FROM (SELECT '' AS `dim`, '' AS `value` UNION ALL SELECT 'status', new.`status`
			UNION ALL SELECT 'end_reason', new.`end_reason` UNION ALL SELECT 'sentiment', new.`sentiment`
			UNION ALL SELECT 'outcome', new.`outcome` UNION ALL SELECT 'called', new.`called`) AS k WHERE k.`value` IS NOT NULL
	) GROUP BY `dim`, `value`, `hour`
ON CONFLICT (`dim`, `value`, `hour`) DO UPDATE SET
	`calls` = `calls` + excluded.`calls`, `active` = `active` + excluded.`active`,
	`failed` = `failed` + excluded.`failed`, `duration_ms` = `duration_ms` + excluded.`duration_ms`,
	`cost_nanos` = `cost_nanos` + excluded.`cost_nanos`, `costs` = `costs` + excluded.`costs`,
	`latency_sum_ms` = `latency_sum_ms` + excluded.`latency_sum_ms`,
	`latencies` = `latencies` + excluded.`latencies`, `p95s` = `p95s` + excluded.`p95s`;
END;
--> statement-breakpoint
CREATE TRIGGER `calls_rollup_after_update` AFTER UPDATE ON `calls`
WHEN old.`started_at` IS NOT new.`started_at` OR old.`status` IS NOT new.`status` OR old.`end_reason` IS NOT new.`end_reason` OR old.`sentiment` IS NOT new.`sentiment` OR old.`outcome` IS NOT new.`outcome` OR old.`called` IS NOT new.`called` OR old.`duration_seconds` IS NOT new.`duration_seconds` OR old.`cost_usd` IS NOT new.`cost_usd` OR old.`avg_response_latency_ms` IS NOT new.`avg_response_latency_ms` OR old.`p95_response_latency_ms` IS NOT new.`p95_response_latency_ms` BEGIN
	INSERT INTO `call_rollup` (`dim`, `value`, `hour`, `calls`, `active`, `failed`, `duration_ms`, `cost_nanos`, `costs`, `latency_sum_ms`, `latencies`, `p95s`)
	SELECT `dim`, `value`, `hour`, sum(`calls`), sum(`active`), sum(`failed`), sum(`duration_ms`), sum(`cost_nanos`), sum(`costs`), sum(`latency_sum_ms`), sum(`latencies`), sum(`p95s`) FROM (
	SELECT k.`dim`, k.`value`, old.`started_at` / 3600000 AS `hour`,
		-1 AS `calls`, -1 * (old.`status` = 'active') AS `active`, -1 * (old.`status` = 'failed') AS `failed`,
		-1 * coalesce(CAST(round(old.`duration_seconds` * 1000) AS INTEGER), 0) AS `duration_ms`,
		-1 * coalesce(CAST(round(old.`cost_usd` * 1000000000) AS INTEGER), 0) AS `cost_nanos`,
		-1 * (old.`cost_usd` IS NOT NULL) AS `costs`,
		-1 * coalesce(old.`avg_response_latency_ms`, 0) AS `latency_sum_ms`,
		-1 * (old.`avg_response_latency_ms` IS NOT NULL) AS `latencies`,
		-1 * (old.`p95_response_latency_ms` IS NOT NULL) AS `p95s`
	FROM (SELECT '' AS `dim`, '' AS `value` UNION ALL SELECT 'status', old.`status`
			UNION ALL SELECT 'end_reason', old.`end_reason` UNION ALL SELECT 'sentiment', old.`sentiment`
			UNION ALL SELECT 'outcome', old.`outcome` UNION ALL SELECT 'called', old.`called`) AS k WHERE k.`value` IS NOT NULL
	UNION ALL
	SELECT k.`dim`, k.`value`, new.`started_at` / 3600000 AS `hour`,
		1 AS `calls`, 1 * (new.`status` = 'active') AS `active`, 1 * (new.`status` = 'failed') AS `failed`,
		1 * coalesce(CAST(round(new.`duration_seconds` * 1000) AS INTEGER), 0) AS `duration_ms`,
		1 * coalesce(CAST(round(new.`cost_usd` * 1000000000) AS INTEGER), 0) AS `cost_nanos`,
		1 * (new.`cost_usd` IS NOT NULL) AS `costs`,
		1 * coalesce(new.`avg_response_latency_ms`, 0) AS `latency_sum_ms`,
		1 * (new.`avg_response_latency_ms` IS NOT NULL) AS `latencies`,
		1 * (new.`p95_response_latency_ms` IS NOT NULL) AS `p95s`
	FROM (SELECT '' AS `dim`, '' AS `value` UNION ALL SELECT 'status', new.`status`
			UNION ALL SELECT 'end_reason', new.`end_reason` UNION ALL SELECT 'sentiment', new.`sentiment`
			UNION ALL SELECT 'outcome', new.`outcome` UNION ALL SELECT 'called', new.`called`) AS k WHERE k.`value` IS NOT NULL
	) GROUP BY `dim`, `value`, `hour`
	HAVING sum(`calls`) <> 0 OR sum(`active`) <> 0 OR sum(`failed`) <> 0 OR sum(`duration_ms`) <> 0
		OR sum(`cost_nanos`) <> 0 OR sum(`costs`) <> 0 OR sum(`latency_sum_ms`) <> 0
		OR sum(`latencies`) <> 0 OR sum(`p95s`) <> 0
ON CONFLICT (`dim`, `value`, `hour`) DO UPDATE SET
	`calls` = `calls` + excluded.`calls`, `active` = `active` + excluded.`active`,
	`failed` = `failed` + excluded.`failed`, `duration_ms` = `duration_ms` + excluded.`duration_ms`,
	`cost_nanos` = `cost_nanos` + excluded.`cost_nanos`, `costs` = `costs` + excluded.`costs`,
	`latency_sum_ms` = `latency_sum_ms` + excluded.`latency_sum_ms`,
	`latencies` = `latencies` + excluded.`latencies`, `p95s` = `p95s` + excluded.`p95s`;
END;
--> statement-breakpoint
CREATE TRIGGER `calls_rollup_after_delete` AFTER DELETE ON `calls` BEGIN
	INSERT INTO `call_rollup` (`dim`, `value`, `hour`, `calls`, `active`, `failed`, `duration_ms`, `cost_nanos`, `costs`, `latency_sum_ms`, `latencies`, `p95s`)
	SELECT `dim`, `value`, `hour`, sum(`calls`), sum(`active`), sum(`failed`), sum(`duration_ms`), sum(`cost_nanos`), sum(`costs`), sum(`latency_sum_ms`), sum(`latencies`), sum(`p95s`) FROM (
	SELECT k.`dim`, k.`value`, old.`started_at` / 3600000 AS `hour`,
		-1 AS `calls`, -1 * (old.`status` = 'active') AS `active`, -1 * (old.`status` = 'failed') AS `failed`,
		-1 * coalesce(CAST(round(old.`duration_seconds` * 1000) AS INTEGER), 0) AS `duration_ms`,
		-1 * coalesce(CAST(round(old.`cost_usd` * 1000000000) AS INTEGER), 0) AS `cost_nanos`,
		-1 * (old.`cost_usd` IS NOT NULL) AS `costs`,
		-1 * coalesce(old.`avg_response_latency_ms`, 0) AS `latency_sum_ms`,
		-1 * (old.`avg_response_latency_ms` IS NOT NULL) AS `latencies`,
		-1 * (old.`p95_response_latency_ms` IS NOT NULL) AS `p95s`
	FROM (SELECT '' AS `dim`, '' AS `value` UNION ALL SELECT 'status', old.`status`
			UNION ALL SELECT 'end_reason', old.`end_reason` UNION ALL SELECT 'sentiment', old.`sentiment`
			UNION ALL SELECT 'outcome', old.`outcome` UNION ALL SELECT 'called', old.`called`) AS k WHERE k.`value` IS NOT NULL
	) GROUP BY `dim`, `value`, `hour`
ON CONFLICT (`dim`, `value`, `hour`) DO UPDATE SET
	`calls` = `calls` + excluded.`calls`, `active` = `active` + excluded.`active`,
	`failed` = `failed` + excluded.`failed`, `duration_ms` = `duration_ms` + excluded.`duration_ms`,
	`cost_nanos` = `cost_nanos` + excluded.`cost_nanos`, `costs` = `costs` + excluded.`costs`,
	`latency_sum_ms` = `latency_sum_ms` + excluded.`latency_sum_ms`,
	`latencies` = `latencies` + excluded.`latencies`, `p95s` = `p95s` + excluded.`p95s`;
END;
--> statement-breakpoint
-- The calls stored before this migration.
INSERT INTO `call_rollup` (`dim`, `value`, `hour`, `calls`, `active`, `failed`, `duration_ms`, `cost_nanos`, `costs`, `latency_sum_ms`, `latencies`, `p95s`)
SELECT `dim`, `value`, `hour`, sum(`calls`), sum(`active`), sum(`failed`), sum(`duration_ms`), sum(`cost_nanos`), sum(`costs`), sum(`latency_sum_ms`), sum(`latencies`), sum(`p95s`) FROM (
	SELECT k.`dim`,
		CASE k.`dim` WHEN '' THEN '' WHEN 'status' THEN c.`status` WHEN 'end_reason' THEN c.`end_reason`
			WHEN 'sentiment' THEN c.`sentiment` WHEN 'outcome' THEN c.`outcome` ELSE c.`called` END AS `value`,
		c.`started_at` / 3600000 AS `hour`,
		1 AS `calls`, (c.`status` = 'active') AS `active`, (c.`status` = 'failed') AS `failed`,
		coalesce(CAST(round(c.`duration_seconds` * 1000) AS INTEGER), 0) AS `duration_ms`,
		coalesce(CAST(round(c.`cost_usd` * 1000000000) AS INTEGER), 0) AS `cost_nanos`,
		(c.`cost_usd` IS NOT NULL) AS `costs`,
		coalesce(c.`avg_response_latency_ms`, 0) AS `latency_sum_ms`,
		(c.`avg_response_latency_ms` IS NOT NULL) AS `latencies`,
		(c.`p95_response_latency_ms` IS NOT NULL) AS `p95s`
	FROM `calls` AS c CROSS JOIN (
		SELECT '' AS `dim` UNION ALL SELECT 'status' UNION ALL SELECT 'end_reason'
		UNION ALL SELECT 'sentiment' UNION ALL SELECT 'outcome' UNION ALL SELECT 'called'
	) AS k
) WHERE `value` IS NOT NULL
GROUP BY `dim`, `value`, `hour`;
--> statement-breakpoint
-- Every caller number there has been, with a trigram index, so that "calls from a number with
-- these digits in it" (callerContains) first finds the few numbers that have them and then
-- reads those numbers' calls by calls_caller_started_at_id_idx, instead of testing every
-- call's number newest first (a number no caller has read all of them). Kept by the triggers
-- below; a number whose calls are all deleted stays, and matches no call.
CREATE TABLE `callers` (
	`caller` text NOT NULL UNIQUE
);
--> statement-breakpoint
CREATE VIRTUAL TABLE `callers_fts` USING fts5(
	`caller`,
	content='callers',
	content_rowid='rowid',
	tokenize='trigram'
);
--> statement-breakpoint
CREATE TRIGGER `callers_after_insert` AFTER INSERT ON `callers` BEGIN
	INSERT INTO `callers_fts`(rowid, `caller`) VALUES (new.rowid, new.`caller`);
END;
--> statement-breakpoint
CREATE TRIGGER `calls_callers_after_insert` AFTER INSERT ON `calls`
WHEN new.`caller` IS NOT NULL BEGIN
	INSERT OR IGNORE INTO `callers`(`caller`) VALUES (new.`caller`);
END;
--> statement-breakpoint
CREATE TRIGGER `calls_callers_after_update` AFTER UPDATE OF `caller` ON `calls`
WHEN new.`caller` IS NOT NULL AND old.`caller` IS NOT new.`caller` BEGIN
	INSERT OR IGNORE INTO `callers`(`caller`) VALUES (new.`caller`);
END;
--> statement-breakpoint
INSERT OR IGNORE INTO `callers`(`caller`)
	SELECT DISTINCT `caller` FROM `calls` WHERE `caller` IS NOT NULL ORDER BY `caller`;
