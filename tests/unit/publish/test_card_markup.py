"""Sidecar and catalogue text with markup reaches the release README.md as inert, escaped text (made-up texts)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipeline.publish.documents.card import licence_lines, markdown_text

HOSTILE = [
    ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
    ("[click](javascript:alert(1))", r"\[click\]\(javascript:alert\(1\)\)"),
    ("![x](http://tracker.example/p.png)", r"\!\[x\]\(http://tracker.example/p.png\)"),
    ("**loud** _quiet_ `code` ~~gone~~", r"\*\*loud\*\* \_quiet\_ \`code\` \~\~gone\~\~"),
    ("a | b\nsecond line", r"a \| b second line"),
    ("&lt;entity&gt; \\", r"\&lt;entity\&gt; \\"),
    ("CC BY 4.0 · 统计局", "CC BY 4.0 · 统计局"),
]


@pytest.mark.parametrize(("text", "expected"), HOSTILE)
def test_markup_in_data_text_is_escaped_to_one_inert_line(text, expected):
    assert markdown_text(text) == expected


def test_a_licence_and_publisher_with_markup_reach_the_card_escaped():
    sources = pd.DataFrame(
        {
            "source_id": ["made_up_a", "made_up_b"],
            "licence": ["<img src=x onerror=alert(1)> CC BY"] * 2,
            "publisher": ["[Bureau](http://evil.example)"] * 2,
        }
    )
    (line,) = licence_lines(sources)
    assert not re.search(r"(?<!\\)[<>\[\]()]", line)  # no markup character left unescaped
    assert r"\<img src=x onerror=alert\(1\)\> CC BY" in line and r"\[Bureau\]\(http://evil.example\)" in line
