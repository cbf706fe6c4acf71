"""Every command and Python block in README.md and docs/ runs, in page order, as the page shows it
(at the smaller sizes its `docs-test` comments give; see tests/docs_blocks.py)."""

from __future__ import annotations

import pytest

from docs_blocks import NOT_RUN, ROOT, RUN, SHOWN, Block, blocks, pages, prepare, run

ALL = {page: blocks(page.read_text(), str(page.relative_to(ROOT))) for page in pages()}
RUNNABLE = {page: found for page, found in ALL.items() if any(b.language in RUN and not b.not_run for b in found)}


def test_every_block_names_a_language_the_tests_know():
    for found in ALL.values():
        for block in found:
            assert block.language in RUN | SHOWN, f"{block.where}: ```{block.language}: use bash, python or text"
            assert block.language in RUN or not (block.replace or block.before or block.not_run), block.where


def test_what_is_not_run_is_only_what_a_test_cannot_do():
    skipped = [b for found in ALL.values() for b in found if b.not_run]
    for block in skipped:  # each kind is what its name says, not a way to skip a slow or failing block
        marker = {"set-up": "pip install", "download": "--data ", "server": "gankit lab"}[block.not_run]
        assert marker in block.code, f"{block.where}: 'not run ({block.not_run})' but no {marker!r} in it"
    ran = sum(b.language in RUN and not b.not_run for found in ALL.values() for b in found)
    assert ran >= 2 * len(skipped), f"{len(skipped)} blocks not run against {ran} run"
    assert set(NOT_RUN) == {"set-up", "download", "server"}


@pytest.mark.parametrize("page", sorted(RUNNABLE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_page_runs(page, tmp_path):
    prepare(tmp_path)
    for block in RUNNABLE[page]:
        if block.language in RUN and not block.not_run:
            run(block, tmp_path)


# -- the runner itself can fail -------------------------------------------------------------------
PAGE = '''Some text.

```bash
echo one > one.txt
```

<!-- docs-test: replace "cat one.txt" "cat one.txt two.txt" -->
```bash
cat one.txt
```

<!-- docs-test: exit 2 -->
```python
import sys; sys.exit(2)
```
'''


def test_a_failing_block_fails_the_page(tmp_path):
    first, second, third = blocks(PAGE, "page.md")
    run(first, tmp_path)
    with pytest.raises(AssertionError, match="page.md:8: exit 1"):  # two.txt is not there
        run(second, tmp_path)
    assert run(third, tmp_path).returncode == 2
    third.exit = 0
    with pytest.raises(AssertionError, match="exit 2, the page expects 0"):
        run(third, tmp_path)


def test_a_replace_that_no_longer_matches_is_an_error(tmp_path):
    block = Block("page.md", 1, "bash", "gankit train --epochs 3\n", replace=[("--epochs 300", "--epochs 2")])
    with pytest.raises(ValueError, match="not in the block"):
        run(block, tmp_path)


def test_an_unknown_reason_to_skip_is_refused():
    with pytest.raises(ValueError, match="is not one of"):
        blocks("<!-- docs-test: not run (slow) it takes long -->\n```bash\nsleep 999\n```\n")
