# shellcheck shell=bash
# Backup functions of the original tooling, for `source` muscle memory (DEPLOYMENT.md):
#   source lib/functions/backup.sh
#   restore_backup filter-ical production backup_20250106_120000
#   restore_backup filter-ical production $(get_latest_backup filter-ical production)
# Both call the Invoke tasks of this checkout (invoke backup.restore / backup.latest);
# PLATFORM_* environment variables reach them unchanged. Sourcing sets no shell options.

_PLATFORM_BACKUP_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

_platform_backup_invoke() {
    local invoke="$_PLATFORM_BACKUP_REPO/.venv/bin/invoke"
    if [ ! -x "$invoke" ]; then
        echo "error: $_PLATFORM_BACKUP_REPO/.venv missing; run $_PLATFORM_BACKUP_REPO/bin/setup" >&2
        return 1
    fi
    "$invoke" --search-root "$_PLATFORM_BACKUP_REPO" "$@"
}

# restore_backup PROJECT ENVIRONMENT BACKUP_NAME: verify the backup, save the current state,
# restore volumes and env files, deploy the backup's images (zero downtime). Extra arguments
# (e.g. --with-database) are passed on.
restore_backup() {
    if [ $# -lt 3 ] || [ -z "$1" ] || [ -z "$2" ] || [ -z "$3" ]; then
        echo "usage: restore_backup PROJECT ENVIRONMENT BACKUP_NAME [--with-database]" >&2
        echo "       (no backup name given? list them: invoke backup.list --project P --env E)" >&2
        return 2
    fi
    local project=$1 environment=$2 name=$3
    shift 3
    _platform_backup_invoke backup.restore --project "$project" --env "$environment" --backup "$name" "$@"
}

# get_latest_backup PROJECT ENVIRONMENT: print the newest backup's name only;
# exit status 1 and a message on stderr when there is none.
get_latest_backup() {
    if [ $# -ne 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
        echo "usage: get_latest_backup PROJECT ENVIRONMENT" >&2
        return 2
    fi
    _platform_backup_invoke backup.latest --project "$1" --env "$2"
}
