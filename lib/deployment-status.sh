#!/usr/bin/env bash
# ./lib/deployment-status.sh <project> <environment> [--history | --rollback] [--json]
# Kept for DEPLOYMENT.md; it is `invoke status --project P --env E ...`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 2 ] || [[ "$1" == -* ]] || [[ "$2" == -* ]]; then
    echo "usage: $0 <project> <environment> [--history | --rollback] [--json]" >&2
    exit 2
fi
[ -x "$REPO/.venv/bin/invoke" ] || { echo "error: $REPO/.venv missing; run $REPO/bin/setup" >&2; exit 1; }
project=$1 environment=$2
shift 2
exec "$REPO/.venv/bin/invoke" --search-root "$REPO" status --project "$project" --env "$environment" "$@"
