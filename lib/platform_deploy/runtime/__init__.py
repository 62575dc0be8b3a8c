"""Everything that talks to a container engine lives here; the rest of the tool never imports docker."""
