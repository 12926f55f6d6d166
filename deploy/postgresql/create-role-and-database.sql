-- Kontakt: the database role and the database. Run once as the postgres superuser:
--   sudo -u postgres psql -v kontakt_password="$(openssl rand -base64 24)" \
--        -f deploy/postgresql/create-role-and-database.sql
-- (keep the password: it goes into KONTAKT_DATABASE_URL in /etc/kontakt/kontakt.env).
-- Kontakt creates and migrates its tables itself at start (kontakt migrate / serve).
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE kontakt LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 50',
              :'kontakt_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kontakt')
\gexec

SELECT 'CREATE DATABASE kontakt OWNER kontakt ENCODING ''UTF8'' LC_COLLATE ''C.UTF-8'' LC_CTYPE ''C.UTF-8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'kontakt')
\gexec

-- Nobody else may connect; the schema belongs to kontakt alone.
REVOKE ALL ON DATABASE kontakt FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE kontakt TO kontakt;
\connect kontakt
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO kontakt;
-- Timestamps are stored as timestamptz; sessions see UTC unless the client says otherwise.
ALTER ROLE kontakt IN DATABASE kontakt SET timezone TO 'UTC';
-- A runaway query or a forgotten transaction must not hold locks for long.
ALTER ROLE kontakt IN DATABASE kontakt SET statement_timeout TO '30s';
ALTER ROLE kontakt IN DATABASE kontakt SET idle_in_transaction_session_timeout TO '60s';
