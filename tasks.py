"""Invoke collection of the platform deployment tool: `invoke --list` shows what is here."""

from invoke import Collection

from platform_deploy.tasks import app, backup, certs, deploy, nginx
from platform_deploy.tasks import platform as platform_tasks
from platform_deploy.tasks import status, swarm

namespace = Collection()
namespace.add_collection(Collection.from_module(deploy))
namespace.add_collection(Collection.from_module(backup))
namespace.add_collection(Collection.from_module(nginx))
namespace.add_collection(Collection.from_module(platform_tasks, name="platform"))
namespace.add_collection(Collection.from_module(status))
namespace.add_collection(Collection.from_module(app))
namespace.add_collection(Collection.from_module(swarm))
namespace.add_collection(Collection.from_module(certs))
