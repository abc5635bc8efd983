-- The loop both ledger pricing scripts run (statement_costs.sql,
-- runs_table.sql): 200 batches of 100 jobs, each inserted, claimed with
-- ledger_claim(ids) and finished with ledger_finish(ids) as the calling
-- script defined them, printing execution time and WAL bytes per job under
-- the name in the setting ledger_costs.design. Not run on its own.
CHECKPOINT;
DO $$
DECLARE
  t0 timestamptz; w0 pg_lsn; ids uuid[]; b int; n int := 200; bs int := 100;
  ti interval := '0'; tc interval := '0'; tf interval := '0'; wi numeric := 0; wc numeric := 0; wf numeric := 0;
BEGIN
  FOR b IN 1..n LOOP
    ids := ARRAY(SELECT gen_random_uuid() FROM generate_series(1,bs));
    t0 := clock_timestamp(); w0 := pg_current_wal_insert_lsn();
    INSERT INTO jobs (id, queue, kind, payload, max_attempts, request_id)
      SELECT id, 'noop', 'noop', '{"n":1}'::jsonb, 5, NULL FROM unnest(ids) AS t(id);
    ti := ti + (clock_timestamp()-t0); wi := wi + (pg_current_wal_insert_lsn()-w0);
    t0 := clock_timestamp(); w0 := pg_current_wal_insert_lsn();
    PERFORM * FROM ledger_claim(ids);
    tc := tc + (clock_timestamp()-t0); wc := wc + (pg_current_wal_insert_lsn()-w0);
    t0 := clock_timestamp(); w0 := pg_current_wal_insert_lsn();
    PERFORM ledger_finish(ids);
    tf := tf + (clock_timestamp()-t0); wf := wf + (pg_current_wal_insert_lsn()-w0);
  END LOOP;
  RAISE NOTICE '%, per job: insert % us %B | claim % us %B | finish % us %B', current_setting('ledger_costs.design'),
    round(extract(epoch from ti)*1e6/(n*bs),1), round(wi/(n*bs)),
    round(extract(epoch from tc)*1e6/(n*bs),1), round(wc/(n*bs)),
    round(extract(epoch from tf)*1e6/(n*bs),1), round(wf/(n*bs));
END $$;
