#!/usr/bin/env bash
# archive_command for PostgreSQL WAL archiving: archive-wal.sh %p %f
# Copies one finished WAL segment into $KONTAKT_WAL_ARCHIVE (default
# /var/lib/postgresql/wal-archive), never overwriting, and fsyncs it; exit 0 only when
# the segment is safely stored (PostgreSQL retries on failure and keeps the segment).
# Install: install -D -m 0755 archive-wal.sh /usr/local/lib/kontakt/archive-wal.sh
set -euo pipefail
src="$1"; name="$2"
archive="${KONTAKT_WAL_ARCHIVE:-/var/lib/postgresql/wal-archive}"
dest="$archive/$name"
if [[ -e "$dest" ]]; then
  # Already archived (a retry after a crash): fine only if identical.
  cmp -s "$src" "$dest" && exit 0
  echo "archive-wal: $dest exists and differs" >&2
  exit 1
fi
cp "$src" "$dest.partial"
sync "$dest.partial"
mv "$dest.partial" "$dest"
sync "$archive"
