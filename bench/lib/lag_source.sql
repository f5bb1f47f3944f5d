-- bench/lib/lag_source.sql - the source side of the lag measurement of
-- bench/delta_bench.sh and bench/wan_bench.sh: the heartbeat row and the
-- procedure that stamps it with the time, committing each stamp.

CREATE TABLE bench_heartbeat (id int PRIMARY KEY, ts timestamptz);
INSERT INTO bench_heartbeat VALUES (1, '2000-01-01 00:00:00+00');
CREATE PROCEDURE bench_hb_writer(seconds float8) LANGUAGE plpgsql AS $$
DECLARE
    stop_at timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
    WHILE clock_timestamp() < stop_at LOOP
        UPDATE bench_heartbeat SET ts = clock_timestamp() WHERE id = 1;
        COMMIT;
        PERFORM pg_sleep(0.15);
    END LOOP;
END $$;
