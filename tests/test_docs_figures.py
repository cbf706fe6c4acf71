"""Every figure the documentation shows is in docs/figures/ and is made by a step of docs/figures.py,
and nothing lies in docs/figures/ that no step makes."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from docs_blocks import ROOT, pages

spec = importlib.util.spec_from_file_location("docs_figures", ROOT / "docs" / "figures.py")
figures = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = figures  # its dataclass looks its module up
spec.loader.exec_module(figures)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def shown() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for page in pages():
        for target in IMAGE.findall(page.read_text()):
            name = (page.parent / target).resolve()
            assert name.is_file(), f"{page.relative_to(ROOT)} shows {target}, which is not there"
            assert name.parent == ROOT / "docs" / "figures", f"{page.relative_to(ROOT)}: {target} is outside docs/figures"
            found.setdefault(name.name, []).append(str(page.relative_to(ROOT)))
    return found


def test_every_figure_shown_is_made_by_a_step():
    for figure, where in shown().items():
        assert figures.owner(figure) is not None, f"{figure} (shown in {where}) is made by no step of docs/figures.py"


def test_every_file_in_the_figures_folder_is_made_by_a_step_and_shown():
    on_pages = shown()
    for path in (ROOT / "docs" / "figures").iterdir():
        assert figures.owner(path.name) is not None, f"docs/figures/{path.name}: no step of docs/figures.py makes it"
        assert path.name in on_pages, f"docs/figures/{path.name} is shown on no page"


def test_the_script_lists_its_steps_and_refuses_an_unknown_figure():
    listed = subprocess.run([sys.executable, str(ROOT / "docs" / "figures.py"), "--list"],
                            capture_output=True, text=True, check=True).stdout
    assert all(step.name in listed for step in figures.STEPS)
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "figures.py"), "nothing.png"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "no step makes nothing.png" in done.stderr
