"""docs/projects.reference.yml documents every key the validator accepts, and is itself a valid registry.

The accepted keys are read from the validator itself: an unknown key injected into each
mapping of the reference makes it list its known keys. A key added to validate.py but
not to the reference (or the reverse) fails here.
"""

import copy
import re
from pathlib import Path

import pytest
import yaml

from platform_deploy.config import load_registry
from platform_deploy.config.model import DEFAULT_ENV_FILE, DEFAULT_HEALTH_TIMEOUT, DEFAULT_RATE
from platform_deploy.config.validate import CONTAINER_KEYS, PROJECT_KEYS, validate
from platform_deploy.errors import ConfigError

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "projects.reference.yml"
PROBE = "zz-not-a-key"
F = "config/projects.yml"
# Mappings whose keys the user chooses (project names, container roles, volume names).
USER_KEYED = {("projects",), ("projects", "*", "containers"), ("projects", "*", "containers", "*", "volumes")}


@pytest.fixture(scope="module")
def reference():
    return yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))


def shape(path):
    """A YAML path with the user-chosen keys replaced by '*'."""
    result = []
    for index, key in enumerate(path):
        result.append("*" if tuple(result) in USER_KEYED else key)
    return tuple(result)


def fixed_mappings(node, path=()):
    """(path, mapping) for every mapping of the reference whose keys are the validator's, not the user's."""
    if isinstance(node, dict):
        if shape(path) not in USER_KEYED:
            yield path, node
        for key, value in node.items():
            yield from fixed_mappings(value, path + (key,))
    elif isinstance(node, list):
        for value in node:
            yield from fixed_mappings(value, path)


def known_keys(data, path):
    """The keys the validator accepts at ``path``, from its 'unknown key' message."""
    probed = copy.deepcopy(data)
    node = probed
    for key in path:
        node = node[key]
    node[PROBE] = "x"
    with pytest.raises(ConfigError) as caught:
        validate(probed)
    where = f"{F}: {'/'.join(path)}: " if path else f"{F}: "
    lines = [line for line in caught.value.problems if line.startswith(f"{where}unknown key {PROBE!r}")]
    assert len(lines) == 1, (path, caught.value.problems)
    match = re.fullmatch(rf"{re.escape(where)}unknown key '{PROBE}'; known keys: (.*)", lines[0])
    assert match, lines[0]
    return set(match.group(1).split(", "))


def test_reference_is_a_valid_registry():
    registry = load_registry(REFERENCE)
    assert len(registry.projects) >= 2


def test_every_accepted_key_is_documented_and_every_documented_key_is_accepted(reference):
    documented, accepted = {}, {}
    for path, mapping in fixed_mappings(reference):
        documented.setdefault(shape(path), set()).update(mapping)
        accepted.setdefault(shape(path), known_keys(reference, path))
    assert documented == accepted
    # Every kind of mapping the validator has is present (a missing section would hide its keys).
    assert set(documented) == {
        (), ("projects", "*"), ("projects", "*", "domains"), ("projects", "*", "domains", "staging"),
        ("projects", "*", "containers", "*"), ("projects", "*", "nginx"), ("projects", "*", "nginx", "rate_limit"),
        ("projects", "*", "database"), ("projects", "*", "database", "databases"),
    }


def test_key_tuples_of_the_validator_are_documented(reference):
    projects = reference["projects"].values()
    assert {key for project in projects for key in project} == set(PROJECT_KEYS)
    assert {key for project in projects for c in project["containers"].values() for key in c} == set(CONTAINER_KEYS)


def test_alternative_forms_are_shown(reference):
    domains = [project["domains"] for project in reference["projects"].values()]
    forms = {(env, type(value).__name__) for entry in domains for env, value in entry.items()}
    assert {("production", "str"), ("production", "list"), ("staging", "list"), ("staging", "dict")} <= forms
    containers = [c for p in reference["projects"].values() for c in p["containers"].values()]
    assert {repr(c["migrations"]) for c in containers if "migrations" in c} >= {"True", "False"}
    assert any(isinstance(c.get("migrations"), str) for c in containers)
    roles = {role for p in reference["projects"].values() for role in p["containers"]}
    assert {"frontend", "backend"} <= roles and roles - {"frontend", "backend"}


def test_every_key_is_annotated(reference):
    """The first occurrence of each of the validator's keys has a comment right above it (or on its line)."""
    keys = {key for _, mapping in fixed_mappings(reference) for key in mapping}
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    seen = set()
    for number, line in enumerate(lines):
        match = re.match(r"^\s*([a-z_]+):", line)
        if not match or match.group(1) in seen or match.group(1) not in keys:
            continue
        seen.add(match.group(1))
        if "#" not in line:
            above = lines[number - 1].lstrip()
            assert above.startswith("#"), f"line {number + 1}: {line.strip()} has no comment"
    assert seen == keys


def test_documented_defaults_match_the_model():
    text = " ".join(line.strip().lstrip("#").strip() for line in REFERENCE.read_text(encoding="utf-8").splitlines())
    assert f"default `{DEFAULT_ENV_FILE}`" in text
    assert f"default {DEFAULT_HEALTH_TIMEOUT})" in text
    assert f'default "{DEFAULT_RATE}"' in text
