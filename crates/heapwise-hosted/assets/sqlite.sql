-- In-memory SQLite workload of the heapwise hosted suite; @N@ is replaced by the row count.
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @N@)
INSERT INTO t SELECT i, i % 97, 'name-' || (i * 7919 % 100003), zeroblob(16 + i % 200) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, name);
UPDATE t SET name = name || '-u' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
CREATE TABLE agg AS SELECT grp, count(*) AS n, max(name) AS mx, sum(length(payload)) AS bytes FROM t GROUP BY grp;
SELECT 'rows', count(*), sum(bytes) FROM agg JOIN (SELECT 1) ON 1 GROUP BY 1;
SELECT 'check', CASE WHEN (SELECT count(*) FROM t) = @N@ - @N@ / 5 THEN 'ok' ELSE 'BAD' END;
SELECT 'distinct', count(DISTINCT name) FROM t;
SELECT 'order', group_concat(name, ',') FROM (SELECT name FROM t ORDER BY name DESC LIMIT 5);
