"""The original system's documented example, shared by the tests that check we accept and serve it."""

from pathlib import Path

# The original's user documentation; CI and sessions keep shared/ beside the checkout.
SEED_DOC = Path(__file__).resolve().parents[2] / "shared" / "seed" / "DEPLOYMENT.md"

# seed/DEPLOYMENT.md, section "Nginx Configuration", verbatim.
DEPLOYMENT_EXAMPLE = """\
projects:
  filter-ical:
    domains:
      production: filter-ical.de
      staging: staging.filter-ical.de
    containers:
      backend:
        name: filter-ical-backend
        port: 3000
        api_locations: ["/api", "/domains", "/calendars", "/admin"]
      frontend:
        name: filter-ical-frontend
        port: 80
"""
