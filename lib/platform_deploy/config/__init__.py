"""The project registry: config/projects.yml, loaded and validated once into frozen objects."""

from .load import load_registry
from .model import ENVIRONMENTS, Container, Database, Project, RateLimit, Registry

__all__ = ["ENVIRONMENTS", "Container", "Database", "Project", "RateLimit", "Registry", "load_registry"]
