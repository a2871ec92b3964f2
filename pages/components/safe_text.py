"""Text that a user, a participant or a URL controls, made inert for Streamlit's Markdown.

Most Streamlit elements render their text as Markdown (``st.markdown``, ``st.error``, ``st.caption``, headers,
``st.progress`` texts, radio options, metric labels): a study code such as ``![x](http://evil.test/p.png)`` in a
link would make the participant's browser fetch another site, and a participant id would do the same in the
admin's. ``text`` turns any string into Markdown that renders as exactly that string: every ASCII punctuation
character is backslash-escaped (CommonMark allows it for all of them, which covers images, links, autolinks, HTML,
emphasis, ``$`` maths and Streamlit's ``:color[...]`` directives). Two plugins work on the text after escapes are
resolved, so escaping cannot stop them: GFM's autolink literals (``http://...``, ``www.``, e-mail addresses become
links) and remark-emoji (``:smile:``); an invisible word joiner (U+2060) breaks their patterns. Control and
bidirectional-override characters are replaced by U+FFFD, and very long strings are cut. ``block`` does the same
for multi-line texts (consent, instructions), keeping their line breaks.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_SHORTCODE = re.compile(r":(?=[\w+-]+:)")  # the colon that opens an emoji shortcode such as :smile:
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|www)(?=[:.])|(@)")  # GFM autolink literals: scheme, www., e-mail
_WORD_JOINER = "\u2060"
_REPLACEMENT = "\ufffd"
SHORT = 200  # codes, ids, labels, error messages
LONG = 10_000  # consent and instructions


def _visible(text: str) -> str:
    """Control, format (bidi overrides, zero-width) and separator characters other than space become U+FFFD."""
    return "".join(ch if ch == " " or ch.isprintable() else _REPLACEMENT for ch in text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def text(value: object, limit: int = SHORT) -> str:
    """One line of Markdown that shows ``str(value)`` literally (at most ``limit`` characters, then "…")."""
    raw = _cut(_visible(str(value)), limit)
    raw = _SHORTCODE.sub(":" + _WORD_JOINER, _AUTOLINK.sub(lambda m: m.group(0) + _WORD_JOINER, raw))
    return _PUNCTUATION.sub(r"\\\1", raw)


def block(value: object, limit: int = LONG) -> str:
    """Multi-line Markdown that shows ``str(value)`` literally, with its line breaks and blank lines kept."""
    raw = _cut(str(value).replace("\r\n", "\n").replace("\t", " "), limit)
    paragraphs = re.split(r"\n\s*\n", raw)
    return "\n\n".join("  \n".join(text(line, limit) for line in para.split("\n")) for para in paragraphs)


def quoted(value: object, limit: int = 60) -> str:
    """``text`` in typographic quotes, shortened for messages ("the code “…” does not exist")."""
    return f"“{text(value, limit)}”"
