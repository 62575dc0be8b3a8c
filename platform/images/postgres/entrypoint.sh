#!/bin/sh
# PID 1 of postgres-platform: create the cluster on first start, then exec postgres as
# user postgres (exec, so Docker's stop signal reaches the postmaster directly).
set -eu

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

fail() {
    echo "postgres-platform: $*" >&2
    exit 1
}

as_postgres() {
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
}

initialise() {
    password_file=$(mktemp)
    # The password goes to initdb through a file readable by postgres only; it is never printed.
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    chown postgres:postgres "$password_file"
    chmod 600 "$password_file"
    echo "postgres-platform: empty $PGDATA, creating the cluster"
    if ! as_postgres initdb --pgdata="$PGDATA" --username=postgres --pwfile="$password_file" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null; then
        rm -f "$password_file"
        fail "initdb failed; see the messages above"
    fi
    rm -f "$password_file"
    # Local socket: trust, since only processes inside this container can reach it
    # (`docker exec postgres-platform psql -U postgres` works). Network: passwords only.
    cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS     METHOD
local   all       all               trust
host    all       all   0.0.0.0/0   scram-sha-256
host    all       all   ::/0        scram-sha-256
HBA
    cat >>"$PGDATA/postgresql.conf" <<'CONF'

# postgres-platform: reachable on the Docker networks it joins, never published by default.
listen_addresses = '*'
password_encryption = scram-sha-256
CONF
    chown postgres:postgres "$PGDATA/pg_hba.conf" "$PGDATA/postgresql.conf"
}

if [ "${1:-}" != "postgres" ]; then
    exec "$@"
fi

[ -n "${POSTGRES_PASSWORD:-}" ] || fail "POSTGRES_PASSWORD is not set; \`invoke platform.up\` creates it in config/platform/.env.postgres"

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
chmod 2775 /run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initialise
fi

unset POSTGRES_PASSWORD
exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
