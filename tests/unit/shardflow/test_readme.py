"""The README opens with the two commands a newcomer copies (the Makefile has them) and
indexes every page under docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_readme_opens_with_make_run_and_make_test() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    before = text[: first_block.start()].strip().splitlines()
    assert before == ["# shardflow"], "nothing but the title before the commands"
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, flags=re.M)
    assert re.search(r"^test:", makefile, flags=re.M)


def test_the_readme_indexes_every_page_under_docs() -> None:
    text = (ROOT / "README.md").read_text()
    index = text.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)\)", index))
    pages = {str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")}
    assert len(pages) >= 7  # producer, consumers, kcl, lambda, emulator, terraform, operations
    assert linked == pages, (
        f"not in the index: {sorted(pages - linked)}; no such page: {sorted(linked - pages)}"
    )
