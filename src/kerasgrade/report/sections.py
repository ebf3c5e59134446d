"""A page as data: sections of notes, text, tables and figures that a Jinja2 template renders.

Builders return these instead of HTML, so every piece of text reaches the page through the
template's autoescaping: nothing a student's notebook printed can become markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@dataclass(frozen=True)
class Figure:
    png: str  # base64, shown as a data: URI
    alt: str
    caption: str


@dataclass(frozen=True)
class Section:
    title: str
    notes: tuple[str, ...] = ()  # muted sentences (why a plot is missing, how to read it)
    paragraphs: tuple[str, ...] = ()
    errors: tuple[tuple[str, str, str], ...] = ()  # a failed cell: name, value, its code
    table: tuple[tuple[str, ...], ...] = ()  # header row first
    marks: tuple[str, ...] = field(default=())  # per body row: "ok" or "bad" (last column)
    figures: tuple[Figure, ...] = ()


def note(title: str, text: str) -> Section:
    return Section(title, notes=(text,))


def figure(title: str, png: str, alt: str, caption: str) -> Section:
    return Section(title, figures=(Figure(png, alt, caption),))


@cache
def environment() -> Environment:
    """The package's templates, HTML autoescaped, an unknown name an error."""
    return Environment(loader=PackageLoader("kerasgrade", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)
