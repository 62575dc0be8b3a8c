"""Docker HEALTHCHECK: exit 0 when the app answers 200 on /health (/livez for FAIL_MODE=smoke)."""

import os
import sys
import urllib.request

path = "/livez" if os.environ.get("FAIL_MODE") == "smoke" else "/health"
try:
    with urllib.request.urlopen(f"http://127.0.0.1:3000{path}", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:  # HTTPError for 500/503, URLError while starting
    print(f"healthcheck {path}: {error}", file=sys.stderr)
    sys.exit(1)
