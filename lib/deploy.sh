#!/usr/bin/env bash
# ./lib/deploy.sh <project> <environment> [--force] [--skip-backup] [--tag TAG] [--dry-run]
# Kept for DEPLOYMENT.md and CI scripts; it is `invoke deploy --project P --env E ...`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/functions/shim.sh"
positional_shim deploy "<project> <environment> [--force] [--skip-backup] [--tag TAG] [--dry-run]" "$@"
