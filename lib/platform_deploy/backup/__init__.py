"""Backups of a project/environment: images, with metadata readable by people and programs."""
