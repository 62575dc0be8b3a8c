"""Deployment tool for a multi-tenant Docker platform: registry, nginx, deploys, backups."""
