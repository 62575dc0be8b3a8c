#!/usr/bin/env bash
# ./lib/deploy.sh <project> <environment> [--force] [--skip-backup] [--tag TAG] [--dry-run]
# Kept for DEPLOYMENT.md and CI scripts; it is `invoke deploy --project P --env E ...`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 2 ] || [[ "$1" == -* ]] || [[ "$2" == -* ]]; then
    echo "usage: $0 <project> <environment> [--force] [--skip-backup] [--tag TAG] [--dry-run]" >&2
    exit 2
fi
[ -x "$REPO/.venv/bin/invoke" ] || { echo "error: $REPO/.venv missing; run $REPO/bin/setup" >&2; exit 1; }
project=$1 environment=$2
shift 2
exec "$REPO/.venv/bin/invoke" --search-root "$REPO" deploy --project "$project" --env "$environment" "$@"
