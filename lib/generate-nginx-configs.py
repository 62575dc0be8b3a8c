#!/usr/bin/env python3
"""Shim kept for `python3 lib/generate-nginx-configs.py [--dry-run] [--project NAME] [--check]`.

Runs with any python3: it hands over to `invoke nginx.generate` in the
checkout's own virtualenv (.venv, made by bin/setup).
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INVOKE = REPO / ".venv" / "bin" / "invoke"

if not INVOKE.exists():
    sys.exit(f"error: {INVOKE} not found; run {REPO}/bin/setup to create the environment")
os.execv(str(INVOKE), [str(INVOKE), "--search-root", str(REPO), "nginx.generate", *sys.argv[1:]])
