"""State on disk: deployment manifests, the per project/environment lock and the deploy journal."""
