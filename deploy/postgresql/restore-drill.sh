#!/usr/bin/env bash
# Backup and restore drill: proves that backup.sh and restore.sh give back the same data.
#   1. creates a scratch database (kontakt_drill_<pid>), never touching any other;
#   2. fills it: with the real schema and 200 demo appeals when KONTAKT_BIN points to a
#      built kontakt binary ("kontakt seed --demo --appeals 200"), else with a small
#      appeals-like table of 200 rows;
#   3. records the appeals count, an md5 over the ordered appeals rows, and the row
#      count of every table;
#   4. backs up with backup.sh, drops the database, restores with restore.sh;
#   5. compares; drops the scratch database and the dump whatever happens.
# Exit status 0 only when everything matches. Run it monthly in production against the
# real server (it only creates and drops its own scratch database) and in CI.
# Connection: PGHOST (default 127.0.0.1), PGPORT (5432), PGUSER (postgres); the role
# must be allowed to create databases.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGTZ=UTC PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
db="kontakt_drill_$$"
work="$(mktemp -d)"

cleanup() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

q() { psql -X -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

echo "drill: scratch database $db on $PGHOST:$PGPORT"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$db\""

if [[ -n "${KONTAKT_BIN:-}" ]]; then
  echo "drill: seeding with $KONTAKT_BIN seed --demo --appeals 200 (real schema)"
  # kontakt refuses unknown KONTAKT_* variables, so KONTAKT_BIN must not reach it.
  env -u KONTAKT_BIN "$KONTAKT_BIN" --database-url "postgres://$PGUSER@$PGHOST:$PGPORT/$db" seed --demo --appeals 200 >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log" >&2; echo "drill: seeding failed" >&2; exit 1; }
else
  echo "drill: KONTAKT_BIN not set; seeding an appeals-like table with 200 rows"
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
CREATE TABLE appeals (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reg_no       TEXT NOT NULL UNIQUE,
    channel      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    collective   BOOLEAN NOT NULL
);
INSERT INTO appeals (reg_no, channel, summary, received_at, collective)
SELECT format('К-2026-%s', lpad(g::text, 6, '0')),
       (ARRAY['phone','web','letter'])[1 + g % 3],
       format('Звернення %s: немає гарячої води, вул. Хрещатик, %s', g, g % 40),
       TIMESTAMPTZ '2026-01-01 08:00:00+02' + g * INTERVAL '37 minutes',
       g % 17 = 0
FROM generate_series(1, 200) AS g;
SQL
fi

snapshot() {
  q "SELECT count(*) FROM appeals"
  q "SELECT md5(coalesce(string_agg(a::text, E'\n' ORDER BY a.id), '')) FROM appeals a"
  # Row counts of every table, so a table lost in the restore shows up too.
  q "SELECT string_agg(format('%s=%s', t, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', s, t), false, true, '')))[1]::text), ' ' ORDER BY s, t)
     FROM (SELECT table_schema AS s, table_name AS t FROM information_schema.tables
           WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')) x"
}

snapshot > "$work/before"
count="$(sed -n 1p "$work/before")"
echo "drill: before: $count appeals, md5 $(sed -n 2p "$work/before")"
[[ "$count" -gt 0 ]] || { echo "drill: no appeals were created" >&2; exit 1; }

dump="$(KONTAKT_BACKUP_DIR="$work/backups" "$here/backup.sh" "$db" | tail -n 1)"
echo "drill: backup $dump ($(du -h "$dump" | cut -f1))"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE \"$db\" WITH (FORCE)"
echo "drill: dropped $db"

"$here/restore.sh" "$dump" "$db"
snapshot > "$work/after"
echo "drill: after:  $(sed -n 1p "$work/after") appeals, md5 $(sed -n 2p "$work/after")"

if ! diff -u "$work/before" "$work/after"; then
  echo "drill: FAILED: the restored database differs" >&2
  exit 1
fi
echo "drill: OK: appeals count, appeals checksum and every table's row count match"
