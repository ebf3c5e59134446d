"""Make a graded notebook inert: nothing a student's code printed or typed can run as script
in a page that shows it (nbgrader's formgrader, generate_feedback, JupyterLab).

nbconvert's HTML templates insert text/html, SVG, Javascript and markdown as they are, and
markdown's own HTML and link targets too. What stays: text (the templates escape it), PNG and
JPEG images that are valid base64, error tracebacks (escaped), and the facts the hidden cells
leave for generate_feedback (a type no renderer shows). Everything else in an output is
dropped, with a line of text saying so; markdown and raw cells keep their words, with `<`,
`&` and script link targets made harmless. Running it twice changes nothing more.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from kerasgrade.artifacts import FACTS_MIME

IMAGES = ("image/png", "image/jpeg")
KEPT = frozenset({"text/plain", *IMAGES, FACTS_MIME})
# A script scheme in a link target, as browsers read it (they skip whitespace inside it) and
# as markdown does (it drops backslashes before punctuation: javascript\\:).
_GAP = r"[\s\\]*"
SCRIPT_SCHEME = re.compile(
    "(?i)(" + _GAP.join("java") + "|" + _GAP.join("vb") + ")(" + _GAP + _GAP.join("script:") + ")")
# markdown decodes entities in link targets, twice: no `&` may start one but in `&lt;`, which
# this module writes and which is harmless anywhere. A full-width ＆ shows in its place.
AMPERSAND = re.compile(r"&(?!lt;)")
ZERO_WIDTH_SPACE = "\u200b"  # not a character browsers skip in a scheme: breaks it, shows none


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _is_base64(value: Any) -> bool:
    try:
        base64.b64decode(_text(value).replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _inert_output(output: NotebookNode) -> bool:
    """Drop what a page could run from one display or result output; True if anything went."""
    data = output["data"]
    dropped = [k for k in data if k not in KEPT]
    dropped += [k for k in IMAGES if k in data and not _is_base64(data[k])]
    for key in dropped:
        del data[key]
    changed = bool(dropped) or bool(output.get("metadata"))
    # Widths, heights, alt texts, `isolated` iframes: a plot shows without any of them.
    output["metadata"] = NotebookNode()
    if dropped and "text/plain" not in data:
        data["text/plain"] = (f"[output of type {', '.join(sorted(dropped))} not shown: the "
                              "grader keeps only text and PNG or JPEG images]")
    return changed


def _inert_source(source: str) -> str:
    """Markdown without HTML, entities or script links: `<` and `&` show as themselves."""
    escaped = AMPERSAND.sub("\uff06", source).replace("<", "&lt;")
    return SCRIPT_SCHEME.sub(lambda m: m.group(1) + ZERO_WIDTH_SPACE + m.group(2), escaped)


def make_inert(nb: NotebookNode) -> int:
    """Neutralise the notebook in place; the number of outputs and cells changed."""
    changed = 0
    # nbconvert embeds widget state in a <script> block of the page.
    if nb.metadata.pop("widgets", None) is not None:
        changed += 1
    for cell in nb.cells:
        if cell.cell_type == "code":
            changed += sum(_inert_output(o) for o in cell.get("outputs", []) if "data" in o)
            continue
        source = _text(cell.source)
        inert = _inert_source(source)
        if inert != source:
            cell.source = inert
            changed += 1
        if cell.pop("attachments", None) is not None:  # images by any type, SVG included
            changed += 1
    return changed


class InertOutputs(Preprocessor):
    """nbgrader's autograde and generate_feedback: make every notebook inert (see above)."""

    enabled = Bool(True, help="Make student outputs and markdown inert").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict
                   ) -> tuple[NotebookNode, ResourcesDict]:
        make_inert(nb)
        return nb, resources
