"""Names the platform gives containers: a replaced one is recognised by its exact form only."""

import pytest

from platform_deploy.naming import container_name, is_retired, retired_name
from platform_deploy.plan import new_deploy_id


def test_a_retired_name_is_recognised():
    live = container_name("shop-backend", "production")
    assert is_retired(retired_name(live, new_deploy_id()), "production")


@pytest.mark.parametrize("name", [
    "shop-backend-production",                                   # a live container
    "jobs-retired-20261201120000-abcd-production",               # a live one whose role name looks retired
    "shop-backend-staging-retired-20261201120000-abcd",          # another environment's
    "shop-backend-production-retired-2026120112000-abcd",        # not a deploy id
    "shop-backend-production-next-20261201120000-abcd",          # a candidate
])
def test_nothing_else_is(name):
    assert not is_retired(name, "production")
