"""The documentation site builds with `mkdocs build --strict` (no broken link, no missing page) and its
generated reference holds every CLI flag and config key."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_site_builds_strict_with_every_page(site):
    for page in ("index.html", "tutorials/chapter/index.html", "reference/cli/index.html",
                 "reference/config/index.html", "reference/python/index.html", "search/search_index.json"):
        assert (site / page).stat().st_size > 1000, page


def test_the_reference_is_generated_from_the_parser_and_the_declarations(site):
    from gankit.cli import build_parser
    from gankit.config import Config

    cli = (site / "reference" / "cli" / "index.html").read_text()
    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    for name, sub in commands.choices.items():
        assert f"gankit {name}" in cli
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in cli, f"gankit {name} {flag} is missing from the CLI reference"
    keys = (site / "reference" / "config" / "index.html").read_text()
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(section.default_factory()):
            assert f"{section.name}.{f.name}" in keys, f"{section.name}.{f.name} is missing from the config reference"
    assert "in [0, 1)" in keys  # a constraint as declared (data.holdout)
    api = (site / "reference" / "python" / "index.html").read_text()
    for name in ("Config", "train", "run_experiment", "sample_run"):
        assert f'id="gankit.' in api and f".{name}\"" in api, f"{name} is missing from the Python API page"
