"""The deploy pipeline: pre-flight checks, backup, blue/green switch, rollback."""
