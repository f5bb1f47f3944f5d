-- bench/lib/lag_target.sql - the target side of the lag measurement of
-- bench/delta_bench.sh and bench/wan_bench.sh: the samples table, the
-- poller procedure that watches bench_heartbeat arrive, and the scratch
-- tables of the raw COPY reference.  Run in tgt.

CREATE TABLE bench_heartbeat (id int PRIMARY KEY, ts timestamptz);
INSERT INTO bench_heartbeat VALUES (1, '2000-01-01 00:00:00+00');
CREATE TABLE bench_lag (run text NOT NULL, t timestamptz NOT NULL, lag_ms float8 NOT NULL);
-- The samples stay in arrays until the end: the poller writes nothing while
-- polling, and its COMMIT after each poll releases its snapshot.  (One CALL
-- holding a snapshot for the whole measurement would keep every row version
-- the engine deletes on tgt from being pruned, and the lag would grow with
-- the bloat the benchmark itself caused.)
CREATE PROCEDURE bench_lag_poll(label text, seconds float8) LANGUAGE plpgsql AS $$
DECLARE
    stop_at timestamptz := clock_timestamp() + seconds * interval '1 second';
    seen timestamptz;
    cur timestamptz;
    seen_at timestamptz;
    ats timestamptz[] := '{}';
    lags float8[] := '{}';
BEGIN
    SELECT ts INTO seen FROM bench_heartbeat WHERE id = 1;
    WHILE clock_timestamp() < stop_at LOOP
        SELECT ts INTO cur FROM bench_heartbeat WHERE id = 1;
        IF cur IS DISTINCT FROM seen THEN
            seen_at := clock_timestamp();
            ats := ats || seen_at;
            lags := lags || (extract(epoch FROM seen_at - cur) * 1000)::float8;
            seen := cur;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.005);
    END LOOP;
    INSERT INTO bench_lag SELECT label, a, l FROM unnest(ats, lags) AS u(a, l);
    COMMIT;
END $$;
CREATE TABLE bench_scratch_accounts (LIKE pgbench_accounts);
CREATE TABLE bench_scratch_tellers (LIKE pgbench_tellers);
CREATE TABLE bench_scratch_branches (LIKE pgbench_branches);
