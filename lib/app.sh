#!/usr/bin/env bash
# ./lib/app.sh logs <project> <environment> [--role R] [--follow] [--since 10m] [--tail N]
# ./lib/app.sh exec <project> <environment> [--role R] -- CMD [ARGS...]
# ./lib/app.sh maintenance <project> <environment> [--message TEXT] [--retry-after SECONDS]
# ./lib/app.sh live <project> <environment>
# The operator's look at a project's live containers, and its maintenance page:
# `invoke app.logs|app.exec|app.maintenance|app.live --project P --env E ...`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/functions/shim.sh"
case "${1:-}" in
    logs | exec | maintenance | live) command=$1; shift ;;
    *) echo "usage: $0 logs|exec|maintenance|live <project> <environment> [options] [-- CMD ARGS...]" >&2; exit 2 ;;
esac
positional_shim "app.$command" "$command <project> <environment> [options] [-- CMD ARGS...]" "$@"
