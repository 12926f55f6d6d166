#!/usr/bin/env bash
# Restore a dump made by backup.sh into a NEW database (never over an existing one: a
# restore must not mix with live data). Stop Kontakt first, restore into e.g.
# kontakt_restored, check it, then swap names (deploy/README.md, "Restore").
#
# Usage: restore.sh DUMP_FILE DBNAME [OWNER]
#   OWNER  role that will own the database and every restored object (default: none,
#          the connecting user; use kontakt in production)
# Connection: libpq variables (PGHOST, PGPORT, PGUSER ...), a role that may CREATE DATABASE.
set -euo pipefail
dump="${1:?usage: restore.sh DUMP_FILE DBNAME [OWNER]}"
db="${2:?usage: restore.sh DUMP_FILE DBNAME [OWNER]}"
owner="${3:-}"
[[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || { echo "restore.sh: bad database name '$db'" >&2; exit 2; }
[[ -z "$owner" || "$owner" =~ ^[A-Za-z0-9_]+$ ]] || { echo "restore.sh: bad owner '$owner'" >&2; exit 2; }
[[ -r "$dump" ]] || { echo "restore.sh: cannot read $dump" >&2; exit 2; }
if [[ -f "$dump.sha256" ]]; then
  (cd "$(dirname "$dump")" && sha256sum --quiet -c "$(basename "$dump").sha256") \
    || { echo "restore.sh: checksum mismatch for $dump" >&2; exit 1; }
fi
pg_restore --list "$dump" >/dev/null

exists="$(psql -X -At --no-password -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")"
if [[ "$exists" == "1" ]]; then
  echo "restore.sh: database $db exists; restore into a new name or drop it first" >&2
  exit 1
fi
if [[ -n "$owner" ]]; then
  psql -X -q --no-password -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\" OWNER \"$owner\""
  role_args=(--no-owner --role="$owner")
else
  psql -X -q --no-password -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\""
  role_args=(--no-owner)
fi
pg_restore --no-password --exit-on-error --single-transaction "${role_args[@]}" --dbname="$db" "$dump"
psql -X -q --no-password -d "$db" -c "ANALYZE"
echo "restore.sh: $dump restored into $db" >&2
