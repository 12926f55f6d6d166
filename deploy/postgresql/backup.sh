#!/usr/bin/env bash
# Nightly logical backup of Kontakt's database: pg_dump in custom format (compressed,
# restorable table by table with pg_restore), checked with pg_restore --list, then old
# dumps pruned. Run by kontakt-backup.timer as the postgres OS user (Unix socket, peer
# authentication), or by hand.
#
# Usage: backup.sh [DBNAME]                      (default: kontakt)
# Connection: the usual libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD/.pgpass).
# Settings (environment):
#   KONTAKT_BACKUP_DIR        where dumps go            (default /var/backups/kontakt)
#   KONTAKT_BACKUP_KEEP_DAYS  delete dumps older than   (default 14)
#   KONTAKT_BACKUP_KEEP_MIN   but always keep the newest (default 3)
# Prints the path of the new dump as its last line. Exit status non-zero on any failure;
# a failed run leaves no partial dump behind.
set -euo pipefail
db="${1:-kontakt}"
dir="${KONTAKT_BACKUP_DIR:-/var/backups/kontakt}"
keep_days="${KONTAKT_BACKUP_KEEP_DAYS:-14}"
keep_min="${KONTAKT_BACKUP_KEEP_MIN:-3}"

[[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || { echo "backup.sh: bad database name '$db'" >&2; exit 2; }
mkdir -p "$dir"
chmod 0750 "$dir" 2>/dev/null || true
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="$dir/kontakt-$db-$stamp.dump"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

umask 077
pg_dump --format=custom --compress=6 --no-password --dbname="$db" --file="$partial"
# A dump that pg_restore cannot read is no backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$file"
sha256sum "$file" > "$file.sha256"
trap - EXIT

# Retention: older than keep_days, but never the newest keep_min dumps of this database.
mapfile -t dumps < <(ls -1t "$dir"/kontakt-"$db"-*.dump 2>/dev/null || true)
for ((i = keep_min; i < ${#dumps[@]}; i++)); do
  old="${dumps[$i]}"
  if [[ -n "$(find "$old" -maxdepth 0 -mtime +"$keep_days" 2>/dev/null)" ]]; then
    rm -f "$old" "$old.sha256"
    echo "backup.sh: pruned $old" >&2
  fi
done

echo "backup.sh: $(du -h "$file" | cut -f1) written" >&2
echo "$file"
