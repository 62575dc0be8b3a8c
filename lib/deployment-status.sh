#!/usr/bin/env bash
# ./lib/deployment-status.sh <project> <environment> [--history | --rollback] [--json]
# Kept for DEPLOYMENT.md; it is `invoke status --project P --env E ...`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/functions/shim.sh"
positional_shim status "<project> <environment> [--history | --rollback] [--json]" "$@"
