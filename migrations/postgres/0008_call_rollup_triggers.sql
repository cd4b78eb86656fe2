-- Custom SQL migration file, put your code below! --
-- What calls add to call_rollup (SQLite's migration 0010 says how), kept by statement-level
-- triggers: a statement that writes many calls (the expired-lease sweep, a batch of inserts)
-- updates each rollup row once, and in key order.
CREATE FUNCTION callbridge_call_rollup_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO call_rollup (dim, value, hour, calls, active, failed, duration_ms, cost_nanos, costs, latency_sum_ms, latencies, p95s)
	SELECT dim, value, hour, sum(calls), sum(active), sum(failed), sum(duration_ms), sum(cost_nanos),
		sum(costs), sum(latency_sum_ms), sum(latencies), sum(p95s)
	FROM (
		SELECT k.dim, k.value, floor(extract(epoch FROM c.started_at) / 3600)::integer AS hour,
			1 AS calls, 1 * (c.status = 'active')::integer AS active,
			1 * (c.status = 'failed')::integer AS failed,
			1 * coalesce(round(c.duration_seconds * 1000)::bigint, 0) AS duration_ms,
			1 * coalesce(round(c.cost_usd * 1000000000)::bigint, 0) AS cost_nanos,
			1 * (c.cost_usd IS NOT NULL)::integer AS costs,
			1 * coalesce(c.avg_response_latency_ms, 0)::bigint AS latency_sum_ms,
			1 * (c.avg_response_latency_ms IS NOT NULL)::integer AS latencies,
			1 * (c.p95_response_latency_ms IS NOT NULL)::integer AS p95s
		FROM new_rows AS c CROSS JOIN LATERAL (VALUES ('', ''), ('status', c.status),
			('end_reason', c.end_reason), ('sentiment', c.sentiment), ('outcome', c.outcome),
			('called', c.called)) AS k(dim, value)
		WHERE k.value IS NOT NULL
	) AS delta
	GROUP BY dim, value, hour
	HAVING sum(calls) <> 0 OR sum(active) <> 0 OR sum(failed) <> 0 OR sum(duration_ms) <> 0
		OR sum(cost_nanos) <> 0 OR sum(costs) <> 0 OR sum(latency_sum_ms) <> 0
		OR sum(latencies) <> 0 OR sum(p95s) <> 0
	-- Rows are locked in key order, so two statements never wait on each other in a cycle.
	ORDER BY dim, value, hour
	ON CONFLICT (dim, value, hour) DO UPDATE SET
		calls = call_rollup.calls + excluded.calls, active = call_rollup.active + excluded.active,
		failed = call_rollup.failed + excluded.failed,
		duration_ms = call_rollup.duration_ms + excluded.duration_ms,
		cost_nanos = call_rollup.cost_nanos + excluded.cost_nanos,
		costs = call_rollup.costs + excluded.costs,
		latency_sum_ms = call_rollup.latency_sum_ms + excluded.latency_sum_ms,
		latencies = call_rollup.latencies + excluded.latencies, p95s = call_rollup.p95s + excluded.p95s;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION callbridge_call_rollup_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO call_rollup (dim, value, hour, calls, active, failed, duration_ms, cost_nanos, costs, latency_sum_ms, latencies, p95s)
	SELECT dim, value, hour, sum(calls), sum(active), sum(failed), sum(duration_ms), sum(cost_nanos),
		sum(costs), sum(latency_sum_ms), sum(latencies), sum(p95s)
	FROM (
		SELECT k.dim, k.value, floor(extract(epoch FROM c.started_at) / 3600)::integer AS hour,
			-1 AS calls, -1 * (c.status = 'active')::integer AS active,
			-1 * (c.status = 'failed')::integer AS failed,
			-1 * coalesce(round(c.duration_seconds * 1000)::bigint, 0) AS duration_ms,
			-1 * coalesce(round(c.cost_usd * 1000000000)::bigint, 0) AS cost_nanos,
			-1 * (c.cost_usd IS NOT NULL)::integer AS costs,
			-1 * coalesce(c.avg_response_latency_ms, 0)::bigint AS latency_sum_ms,
			-1 * (c.avg_response_latency_ms IS NOT NULL)::integer AS latencies,
			-1 * (c.p95_response_latency_ms IS NOT NULL)::integer AS p95s
		FROM (SELECT o.* FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
			WHERE (o.started_at, o.status, o.end_reason, o.sentiment, o.outcome, o.called, o.duration_seconds, o.cost_usd, o.avg_response_latency_ms, o.p95_response_latency_ms)
			IS DISTINCT FROM (n.started_at, n.status, n.end_reason, n.sentiment, n.outcome, n.called, n.duration_seconds, n.cost_usd, n.avg_response_latency_ms, n.p95_response_latency_ms)) AS c CROSS JOIN LATERAL (VALUES ('', ''), ('status', c.status),
			('end_reason', c.end_reason), ('sentiment', c.sentiment), ('outcome', c.outcome),
			('called', c.called)) AS k(dim, value)
		WHERE k.value IS NOT NULL
		UNION ALL
		SELECT k.dim, k.value, floor(extract(epoch FROM c.started_at) / 3600)::integer AS hour,
			1 AS calls, 1 * (c.status = 'active')::integer AS active,
			1 * (c.status = 'failed')::integer AS failed,
			1 * coalesce(round(c.duration_seconds * 1000)::bigint, 0) AS duration_ms,
			1 * coalesce(round(c.cost_usd * 1000000000)::bigint, 0) AS cost_nanos,
			1 * (c.cost_usd IS NOT NULL)::integer AS costs,
			1 * coalesce(c.avg_response_latency_ms, 0)::bigint AS latency_sum_ms,
			1 * (c.avg_response_latency_ms IS NOT NULL)::integer AS latencies,
			1 * (c.p95_response_latency_ms IS NOT NULL)::integer AS p95s
		FROM (SELECT n.* FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
			WHERE (o.started_at, o.status, o.end_reason, o.sentiment, o.outcome, o.called, o.duration_seconds, o.cost_usd, o.avg_response_latency_ms, o.p95_response_latency_ms)
			IS DISTINCT FROM (n.started_at, n.status, n.end_reason, n.sentiment, n.outcome, n.called, n.duration_seconds, n.cost_usd, n.avg_response_latency_ms, n.p95_response_latency_ms)) AS c CROSS JOIN LATERAL (VALUES ('', ''), ('status', c.status),
			('end_reason', c.end_reason), ('sentiment', c.sentiment), ('outcome', c.outcome),
			('called', c.called)) AS k(dim, value)
		WHERE k.value IS NOT NULL
	) AS delta
	GROUP BY dim, value, hour
	HAVING sum(calls) <> 0 OR sum(active) <> 0 OR sum(failed) <> 0 OR sum(duration_ms) <> 0
		OR sum(cost_nanos) <> 0 OR sum(costs) <> 0 OR sum(latency_sum_ms) <> 0
		OR sum(latencies) <> 0 OR sum(p95s) <> 0
	-- Rows are locked in key order, so two statements never wait on each other in a cycle.
	ORDER BY dim, value, hour
	ON CONFLICT (dim, value, hour) DO UPDATE SET
		calls = call_rollup.calls + excluded.calls, active = call_rollup.active + excluded.active,
		failed = call_rollup.failed + excluded.failed,
		duration_ms = call_rollup.duration_ms + excluded.duration_ms,
		cost_nanos = call_rollup.cost_nanos + excluded.cost_nanos,
		costs = call_rollup.costs + excluded.costs,
		latency_sum_ms = call_rollup.latency_sum_ms + excluded.latency_sum_ms,
		latencies = call_rollup.latencies + excluded.latencies, p95s = call_rollup.p95s + excluded.p95s;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION callbridge_call_rollup_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO call_rollup (dim, value, hour, calls, active, failed, duration_ms, cost_nanos, costs, latency_sum_ms, latencies, p95s)
	SELECT dim, value, hour, sum(calls), sum(active), sum(failed), sum(duration_ms), sum(cost_nanos),
		sum(costs), sum(latency_sum_ms), sum(latencies), sum(p95s)
	FROM (
		SELECT k.dim, k.value, floor(extract(epoch FROM c.started_at) / 3600)::integer AS hour,
			-1 AS calls, -1 * (c.status = 'active')::integer AS active,
			-1 * (c.status = 'failed')::integer AS failed,
			-1 * coalesce(round(c.duration_seconds * 1000)::bigint, 0) AS duration_ms,
			-1 * coalesce(round(c.cost_usd * 1000000000)::bigint, 0) AS cost_nanos,
			-1 * (c.cost_usd IS NOT NULL)::integer AS costs,
			-1 * coalesce(c.avg_response_latency_ms, 0)::bigint AS latency_sum_ms,
			-1 * (c.avg_response_latency_ms IS NOT NULL)::integer AS latencies,
			-1 * (c.p95_response_latency_ms IS NOT NULL)::integer AS p95s
		FROM old_rows AS c CROSS JOIN LATERAL (VALUES ('', ''), ('status', c.status),
			('end_reason', c.end_reason), ('sentiment', c.sentiment), ('outcome', c.outcome),
			('called', c.called)) AS k(dim, value)
		WHERE k.value IS NOT NULL
	) AS delta
	GROUP BY dim, value, hour
	HAVING sum(calls) <> 0 OR sum(active) <> 0 OR sum(failed) <> 0 OR sum(duration_ms) <> 0
		OR sum(cost_nanos) <> 0 OR sum(costs) <> 0 OR sum(latency_sum_ms) <> 0
		OR sum(latencies) <> 0 OR sum(p95s) <> 0
	-- Rows are locked in key order, so two statements never wait on each other in a cycle.
	ORDER BY dim, value, hour
	ON CONFLICT (dim, value, hour) DO UPDATE SET
		calls = call_rollup.calls + excluded.calls, active = call_rollup.active + excluded.active,
		failed = call_rollup.failed + excluded.failed,
		duration_ms = call_rollup.duration_ms + excluded.duration_ms,
		cost_nanos = call_rollup.cost_nanos + excluded.cost_nanos,
		costs = call_rollup.costs + excluded.costs,
		latency_sum_ms = call_rollup.latency_sum_ms + excluded.latency_sum_ms,
		latencies = call_rollup.latencies + excluded.latencies, p95s = call_rollup.p95s + excluded.p95s;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER calls_rollup_after_insert AFTER INSERT ON calls REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callbridge_call_rollup_after_insert();
--> statement-breakpoint
CREATE TRIGGER calls_rollup_after_update AFTER UPDATE ON calls
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callbridge_call_rollup_after_update();
--> statement-breakpoint
CREATE TRIGGER calls_rollup_after_delete AFTER DELETE ON calls REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callbridge_call_rollup_after_delete();
--> statement-breakpoint
-- The calls stored before this migration.
INSERT INTO call_rollup (dim, value, hour, calls, active, failed, duration_ms, cost_nanos, costs, latency_sum_ms, latencies, p95s)
	SELECT dim, value, hour, sum(calls), sum(active), sum(failed), sum(duration_ms), sum(cost_nanos),
		sum(costs), sum(latency_sum_ms), sum(latencies), sum(p95s)
	FROM (
		SELECT k.dim, k.value, floor(extract(epoch FROM c.started_at) / 3600)::integer AS hour,
			1 AS calls, 1 * (c.status = 'active')::integer AS active,
			1 * (c.status = 'failed')::integer AS failed,
			1 * coalesce(round(c.duration_seconds * 1000)::bigint, 0) AS duration_ms,
			1 * coalesce(round(c.cost_usd * 1000000000)::bigint, 0) AS cost_nanos,
			1 * (c.cost_usd IS NOT NULL)::integer AS costs,
			1 * coalesce(c.avg_response_latency_ms, 0)::bigint AS latency_sum_ms,
			1 * (c.avg_response_latency_ms IS NOT NULL)::integer AS latencies,
			1 * (c.p95_response_latency_ms IS NOT NULL)::integer AS p95s
		FROM calls AS c CROSS JOIN LATERAL (VALUES ('', ''), ('status', c.status),
			('end_reason', c.end_reason), ('sentiment', c.sentiment), ('outcome', c.outcome),
			('called', c.called)) AS k(dim, value)
		WHERE k.value IS NOT NULL
	) AS delta
	GROUP BY dim, value, hour
	HAVING sum(calls) <> 0 OR sum(active) <> 0 OR sum(failed) <> 0 OR sum(duration_ms) <> 0
		OR sum(cost_nanos) <> 0 OR sum(costs) <> 0 OR sum(latency_sum_ms) <> 0
		OR sum(latencies) <> 0 OR sum(p95s) <> 0
	-- Rows are locked in key order, so two statements never wait on each other in a cycle.
	ORDER BY dim, value, hour
	ON CONFLICT (dim, value, hour) DO UPDATE SET
		calls = call_rollup.calls + excluded.calls, active = call_rollup.active + excluded.active,
		failed = call_rollup.failed + excluded.failed,
		duration_ms = call_rollup.duration_ms + excluded.duration_ms,
		cost_nanos = call_rollup.cost_nanos + excluded.cost_nanos,
		costs = call_rollup.costs + excluded.costs,
		latency_sum_ms = call_rollup.latency_sum_ms + excluded.latency_sum_ms,
		latencies = call_rollup.latencies + excluded.latencies, p95s = call_rollup.p95s + excluded.p95s;
--> statement-breakpoint
-- Every caller number there has been, with a trigram index (SQLite's migration 0010 says why).
-- pg_trgm ships with PostgreSQL and is a trusted extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE TABLE callers (caller text PRIMARY KEY);
--> statement-breakpoint
CREATE INDEX callers_caller_trgm_idx ON callers USING gin (caller gin_trgm_ops);
--> statement-breakpoint
CREATE FUNCTION callbridge_callers_from_new_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO callers (caller)
		SELECT DISTINCT caller FROM new_rows WHERE caller IS NOT NULL ORDER BY caller
		ON CONFLICT DO NOTHING;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER calls_callers_after_insert AFTER INSERT ON calls REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callbridge_callers_from_new_rows();
--> statement-breakpoint
CREATE TRIGGER calls_callers_after_update AFTER UPDATE ON calls REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION callbridge_callers_from_new_rows();
--> statement-breakpoint
INSERT INTO callers (caller)
	SELECT DISTINCT caller FROM calls WHERE caller IS NOT NULL ORDER BY caller ON CONFLICT DO NOTHING;
