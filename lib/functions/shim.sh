# Shared by the positional shims (lib/deploy.sh, lib/deployment-status.sh, lib/app.sh): map
# `<script> <project> <environment> [flags]` onto `invoke TASK --project P --env E [flags]`.

# positional_shim TASK USAGE "$@"
positional_shim() {
    local task=$1 usage=$2
    shift 2
    local repo
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    if [ $# -lt 2 ] || [[ "$1" == -* ]] || [[ "$2" == -* ]]; then
        echo "usage: $0 $usage" >&2
        exit 2
    fi
    [ -x "$repo/.venv/bin/invoke" ] || { echo "error: $repo/.venv missing; run $repo/bin/setup" >&2; exit 1; }
    local project=$1 environment=$2
    shift 2
    exec "$repo/.venv/bin/invoke" --search-root "$repo" "$task" --project "$project" --env "$environment" "$@"
}
