"""docs/services/ is what the providers implement, regenerated: it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from cloudlet.docs import render_all

DOCS = Path(__file__).resolve().parents[2] / "docs" / "services"


def test_service_pages_match_the_code() -> None:
    pages = render_all()
    stale = [name for name, text in pages.items() if not (DOCS / name).exists() or (DOCS / name).read_text() != text]
    assert not stale, f"docs/services is stale for {stale}; run: python -m cloudlet.docs"
    extra = sorted(p.name for p in DOCS.glob("*.md") if p.name not in pages)
    assert not extra, f"docs/services has pages for no routed service: {extra}"


def test_a_page_lists_every_operation_with_its_status() -> None:
    page = render_all()["lambda.md"]
    assert "| Invoke | implemented |" in page
    assert "| ListCodeSigningConfigs | 501 not implemented |" in page
