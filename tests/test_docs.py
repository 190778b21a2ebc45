"""The docs show the example files exactly as they are.

docs/*.md and README.md hold copies of the files in examples/, so that they
read the same in the repository as on the built site. Each copy is marked
with the file it shows (see scripts/sync-docs); these tests fail when a copy
no longer matches its file. They only read files.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _load_sync_docs() -> ModuleType:
    """Import scripts/sync-docs, a command without a .py suffix, so the tests use its rules."""
    name = "_mpcheck_sync_docs"
    loader = importlib.machinery.SourceFileLoader(name, str(REPO_ROOT / "scripts" / "sync-docs"))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    loader.exec_module(module)
    return module


sync_docs = _load_sync_docs()

DOCS = sync_docs.doc_paths(REPO_ROOT)


def _name(doc: Path) -> str:
    """The doc's path as messages and test ids show it."""
    return doc.relative_to(REPO_ROOT).as_posix()


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_no_snippet_include_is_left(doc: Path) -> None:
    # An include line is only expanded by the site build; in the repository
    # view it shows as literal text where the code should be.
    lines = doc.read_text(encoding="utf-8").splitlines()
    left = [f"{_name(doc)}:{n}: {line}" for n, line in enumerate(lines, 1) if "--8<--" in line]
    assert not left, (
        "snippet include lines are not expanded when the doc is read in the repository; "
        "put the file's content in the code block, mark the block with "
        "'<!-- example: PATH -->' on the line above its fence and run scripts/sync-docs:\n"
        + "\n".join(left)
    )


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_marked_file_exists(doc: Path) -> None:
    blocks = sync_docs.find_blocks(doc.read_text(encoding="utf-8"))
    missing = [
        f"{_name(doc)}:{block.marker_line}: {block.path} does not exist; fix the path in the marker"
        for block in blocks
        if not (REPO_ROOT / block.path).is_file()
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_marked_blocks_equal_their_files(doc: Path) -> None:
    found = sync_docs.problems(_name(doc), doc.read_text(encoding="utf-8"), REPO_ROOT)
    assert not found, "\n".join(found)


def test_the_docs_mark_their_copies() -> None:
    # Guards the tests above against passing because no marker was recognised.
    kinds = {
        _name(doc): {block.kind for block in sync_docs.find_blocks(doc.read_text(encoding="utf-8"))}
        for doc in DOCS
    }
    assert kinds["README.md"] == {"example", "excerpt"}
    assert any("example" in found for name, found in kinds.items() if name.startswith("docs/"))


# The rules themselves, on a made-up repository.

EXAMPLE = '''\
"""A module with a section."""


def total(values):
    # --8<-- [start:body]
    result = 0
    for value in values:
        result += value
    # --8<-- [end:body]
    return result
'''

WHOLE = '''\
"""A module with a section."""


def total(values):
    result = 0
    for value in values:
        result += value
    return result
'''

SECTION = """\
result = 0
for value in values:
    result += value
"""


def _doc(marker: str, body: str) -> str:
    return f"Some text.\n\n{marker}\n```python\n{body}```\n\nMore text.\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "sums.py").write_text(EXAMPLE, encoding="utf-8")
    return tmp_path


def test_whole_file_leaves_out_the_section_markers(root: Path) -> None:
    assert sync_docs.source_text("examples/sums.py", root) == WHOLE


def test_section_is_dedented(root: Path) -> None:
    assert sync_docs.source_text("examples/sums.py:body", root) == SECTION


def test_unknown_section_is_an_error(root: Path) -> None:
    with pytest.raises(sync_docs.DocError, match="no section 'head'"):
        sync_docs.source_text("examples/sums.py:head", root)


@pytest.mark.parametrize(
    ("marker", "body"),
    [
        ("<!-- example: examples/sums.py -->", WHOLE),
        ("<!-- example: examples/sums.py:body -->", SECTION),
        ("<!-- excerpt: examples/sums.py -->", "def total(values):\n    result = 0\n"),
    ],
)
def test_a_matching_block_passes(root: Path, marker: str, body: str) -> None:
    doc = _doc(marker, body)
    assert sync_docs.problems("docs/page.md", doc, root) == []
    assert sync_docs.synced(doc, root) == doc


def test_a_changed_block_is_reported_and_synced(root: Path) -> None:
    marker = "<!-- example: examples/sums.py -->"
    stale = _doc(marker, WHOLE.replace("result += value", "result = result + value"))
    assert sync_docs.problems("docs/page.md", stale, root) == [
        "docs/page.md:3: the code block differs from examples/sums.py; "
        "run scripts/sync-docs to copy the file into the doc again"
    ]
    assert sync_docs.synced(stale, root) == _doc(marker, WHOLE)


def test_a_changed_section_is_synced(root: Path) -> None:
    marker = "<!-- example: examples/sums.py:body -->"
    stale = _doc(marker, "    " + SECTION.replace("\n", "\n    ").rstrip(" "))
    assert len(sync_docs.problems("docs/page.md", stale, root)) == 1
    assert sync_docs.synced(stale, root) == _doc(marker, SECTION)


def test_an_excerpt_must_be_consecutive_lines(root: Path) -> None:
    skipping = _doc("<!-- excerpt: examples/sums.py -->", "def total(values):\n    return result\n")
    found = sync_docs.problems("README.md", skipping, root)
    assert len(found) == 1
    assert found[0].startswith("README.md:3: the code block is not a run of consecutive lines")
    assert "examples/sums.py" in found[0]
    assert sync_docs.synced(skipping, root) == skipping  # excerpts are never rewritten


def test_a_missing_file_is_reported(root: Path) -> None:
    doc = _doc("<!-- example: examples/gone.py -->", WHOLE)
    assert sync_docs.problems("docs/page.md", doc, root) == [
        "docs/page.md:3: examples/gone.py does not exist"
    ]


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ("<!-- example: examples/sums.py -->\n\n```python\n```\n", "directly above a code fence"),
        ("<!-- example: examples/sums.py -->\n```python\nx = 1\n", "never closed"),
        ("<!-- examples: examples/sums.py -->\n```python\n```\n", "a marker reads"),
    ],
)
def test_a_malformed_marker_is_an_error(root: Path, doc: str, error: str) -> None:
    with pytest.raises(sync_docs.DocError, match=error):
        sync_docs.find_blocks(doc)
    assert len(sync_docs.problems("docs/page.md", doc, root)) == 1
