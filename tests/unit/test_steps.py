"""The deploy's steps are listed once (steps.py); the README's walk-through follows that list."""

import re
from pathlib import Path

from platform_deploy.steps import STEPS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_walks_through_the_steps_in_order():
    section = README.read_text().split("## How a deploy works", 1)[1].split("\n## ", 1)[0]
    titles = re.findall(r"\*\*([A-Za-z -]+)\*\*(?: \(([\d.]+)\))?", section.split("**Rollback**")[0])
    assert len(titles) == len(STEPS)
    for (title, number), step in zip(titles, STEPS):
        assert step.name.startswith(title.lower()), (title, step)
        assert number in ("", step.number), (title, number, step)


def test_step_numbers_are_unique_and_in_order():
    numbers = [float(step.number) for step in STEPS]
    assert numbers == sorted(set(numbers))
