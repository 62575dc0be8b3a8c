"""Invoke collection of the platform deployment tool: `invoke --list` shows what is here."""

from invoke import Collection

from platform_deploy.tasks import nginx

namespace = Collection()
namespace.add_collection(Collection.from_module(nginx))
