"""The documentation points only at files that exist (its examples run as doctests)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_point_at_files_that_exist(page):
    missing = [target for target in LINK.findall(page.read_text())
               if not target.startswith(("http://", "https://"))
               and not (page.parent / target).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"
