"""The platform on a Docker Swarm (PLATFORM_ENGINE=swarm): its services' layout and the deploy of a project."""
