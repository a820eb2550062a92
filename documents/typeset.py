"""The one typesetter for every PDF the product writes, with fonts that travel with the product.

Every generated PDF (the accurate copy of a record, the recall record, the validation report,
and ``documents.pdf.make_pdf``) is laid out through ``Document``: lines of text, spacing, tables
and a footer with page numbers. Callers describe the content; ``Document.render`` draws it with
fpdf2 and returns the PDF's bytes.

Fonts (docs/PDF.md says why these and how they are licensed):

- **Noto Sans** (``NotoSans[wght].ttf`` from the ``manimgx-fonts`` package, SIL OFL 1.1): Latin,
  Greek and Cyrillic; the bold face is the same variable font at weight 700.
- **Noto Sans SC** (``NotoSansSC-Regular.otf`` from the ``pylopdf-fonts-zh-cn`` package, SIL OFL
  1.1): Chinese, full-width punctuation, arrows and mathematical signs, and the Latin letters
  that Noto Sans lacks. fpdf2 embeds a CFF-outline OpenType font with a custom /Encoding CMap
  that pypdf (and so the product's own text extraction) reads as one-byte codes, which turns
  ``合格`` into ``\\x00合\\x00格``. So the glyphs a document uses are converted to TrueType
  outlines (fontTools' cu2qu) and embedded as a small TrueType font: fpdf2 then writes the
  usual Identity-H encoding with a ToUnicode map, and the text extracts back exactly.

Only these two files are ever opened: never a font of the host (/usr/share/fonts, fontconfig),
so a copy looks the same and extracts the same on every machine.

A character that neither font has (an emoji, most of CJK Extension B such as U+20000) is
printed as its code point, ``[U+20000]``: a copy may lose a glyph, never the information.
Control characters other than a line feed are printed the same way.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import io
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = [
    "PAGES",
    "Document",
    "FontFiles",
    "drawable",
    "font_files",
    "printable",
]

RGB = tuple[int, int, int]
BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)

#: Stands for the number of pages in a footer; fpdf2 replaces it when the document is output.
#: Chosen so that no real text contains it (the fpdf2 default ``{nb}`` could be in a title).
PAGES = "{traceport-page-count}"

#: Converted CJK glyphs kept per process (a few KB each); the cache starts over beyond this.
_GLYPH_CACHE_LIMIT = 8000

_TEXT_FAMILY = "tpsans"
_CJK_FAMILY = "tpcjk"


@dataclass(frozen=True)
class FontFiles:
    """The font files the typesetter uses, all installed with the product's dependencies."""

    text: Path
    """Noto Sans, a variable TrueType font (weights 400 to 700)."""
    cjk: Path
    """Noto Sans SC Regular, an OpenType font with CFF outlines."""


@functools.cache
def font_files() -> FontFiles:
    import pylopdf_fonts_zh_cn

    text = Path(str(importlib.resources.files("manimgx_fonts").joinpath("NotoSans[wght].ttf")))
    cjk = Path(pylopdf_fonts_zh_cn.sans_path())
    for path in (text, cjk):
        if not path.is_file():  # pragma: no cover - a broken installation
            raise RuntimeError(f"The PDF font {path} is missing; reinstall traceport")
    return FontFiles(text=text, cjk=cjk)


@functools.cache
def _text_font(weight: int) -> bytes:
    """Noto Sans at ``weight`` as a static TrueType font, made once per process.

    fpdf2 could instantiate the variable font itself, but it would redo that (seconds, mostly
    merging the kerning tables it never uses without text shaping) for every document. The
    layout tables are dropped first: fpdf2 lays text out from the advance widths alone.
    """
    from fontTools.ttLib import TTFont
    from fontTools.varLib.instancer import instantiateVariableFont

    with TTFont(font_files().text) as font:
        for tag in ("GSUB", "GPOS", "GDEF"):
            if tag in font:
                del font[tag]
        if weight == font["fvar"].axes[0].defaultValue:
            # The default instance is the variable font's own outlines: drop the variations.
            for tag in ("fvar", "gvar", "avar", "cvar", "HVAR", "MVAR", "STAT"):
                if tag in font:
                    del font[tag]
            static = font
        else:
            static = instantiateVariableFont(font, {"wght": weight}, updateFontNames=False)
            # Named as the bold face, so that a PDF's two Noto Sans fonts differ by name too.
            names = static["name"]
            for number, value in ((2, "Bold"), (4, "Noto Sans Bold"), (6, "NotoSans-Bold")):
                names.setName(value, number, 3, 1, 0x409)
            names.removeNames(nameID=3)
            names.removeNames(nameID=17)
        out = io.BytesIO()
        static.save(out)
        return out.getvalue()


@functools.cache
def _text_cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(font_files().text, lazy=True) as font:
        return frozenset(font.getBestCmap())


class _CjkSource:
    """Noto Sans SC, loaded once per process; its glyphs converted to TrueType on first use."""

    def __init__(self, path: Path) -> None:
        from fontTools.ttLib import TTFont

        self.lock = threading.Lock()
        # Read into memory (8 MB) rather than left open: a process-wide open file would be
        # reported as unclosed when the interpreter exits.
        self.font = TTFont(io.BytesIO(path.read_bytes()), lazy=True)
        self.cmap: dict[int, str] = dict(self.font.getBestCmap())
        self._glyph_set = self.font.getGlyphSet()
        self._hmtx = self.font["hmtx"]
        self._converted: dict[str, Any] = {}

    def glyph(self, name: str) -> tuple[Any, int]:
        """A TrueType glyph (a fresh copy) and its advance width. Call with ``lock`` held."""
        if name not in self._converted:
            if len(self._converted) >= _GLYPH_CACHE_LIMIT:
                self._converted.clear()
            from fontTools.pens.cu2quPen import Cu2QuPen
            from fontTools.pens.ttGlyphPen import TTGlyphPen

            pen = TTGlyphPen(None)
            # 1 unit of 1000 per em: the quadratic curves stay within a thousandth of an em.
            self._glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            self._converted[name] = pen.glyph()
        return copy.deepcopy(self._converted[name]), int(self._hmtx[name][0])

    def truetype(self, code_points: Iterable[int]) -> bytes:
        """A TrueType font holding exactly the glyphs of ``code_points`` (all in ``cmap``)."""
        from fontTools.fontBuilder import FontBuilder

        source = self.font
        cmap = {code: self.cmap[code] for code in sorted(set(code_points))}
        with self.lock:
            names = [".notdef", *sorted(set(cmap.values()) - {".notdef"})]
            converted = {name: self.glyph(name) for name in names}
            name_table = source["name"]
            strings = {
                key: name_table.getDebugName(number)
                for key, number in (("copyright", 0), ("licenseDescription", 13))
            }
            strings |= {"licenseInfoURL": name_table.getDebugName(14)}
            hhea, os2 = source["hhea"], source["OS/2"]
            units = source["head"].unitsPerEm
        builder = FontBuilder(units, isTTF=True)
        builder.setupGlyphOrder(names)
        builder.setupCharacterMap(cmap)
        builder.setupGlyf({name: glyph for name, (glyph, _width) in converted.items()})
        glyf = builder.font["glyf"]
        builder.setupHorizontalMetrics(
            {
                name: (width, getattr(glyf[name], "xMin", 0))
                for name, (_glyph, width) in converted.items()
            }
        )
        builder.setupHorizontalHeader(ascent=hhea.ascent, descent=hhea.descent)
        builder.setupNameTable(
            {
                "familyName": "Noto Sans SC",
                "styleName": "Regular",
                "psName": "NotoSansSC-Regular",
                **{key: value for key, value in strings.items() if value},
            }
        )
        builder.setupOS2(
            sTypoAscender=os2.sTypoAscender,
            sTypoDescender=os2.sTypoDescender,
            sTypoLineGap=os2.sTypoLineGap,
            usWinAscent=os2.usWinAscent,
            usWinDescent=os2.usWinDescent,
            sCapHeight=getattr(os2, "sCapHeight", 733),
            sxHeight=getattr(os2, "sxHeight", 543),
            fsType=os2.fsType,
        )
        builder.setupPost()
        out = io.BytesIO()
        builder.save(out)
        return out.getvalue()


@functools.cache
def _cjk_source() -> _CjkSource:
    return _CjkSource(font_files().cjk)


def drawable(char: str) -> bool:
    """Whether the typesetter draws ``char`` (one code point) as a glyph."""
    code = ord(char)
    if char == "\n":
        return True
    if code < 32 or 0x7F <= code < 0xA0:
        return False
    return code in _text_cmap() or code in _cjk_source().cmap


def printable(value: str) -> str:
    """``value`` as the typesetter prints it: CR LF and CR become a line feed, a tab four
    spaces, and every character without a glyph its code point, ``[U+20000]``."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return "".join(c if drawable(c) else f"[U+{ord(c):04X}]" for c in value)


_Op = Callable[["FPDF"], None]


class Document:
    """A PDF described as a sequence of blocks, drawn by ``render``.

    ``footer`` is printed at the foot of every page, followed by ``page_label`` with
    ``{page}`` and ``{pages}`` filled in (only ``page_label`` is formatted, never ``footer``).
    """

    def __init__(
        self,
        title: str,
        *,
        footer: str = "",
        page_label: str = "",
        creator: str | None = None,
        margin: float = 10,
        bottom_margin: float = 15,
        footer_size: float = 7,
    ) -> None:
        self.title = title
        self._footer = printable(footer)
        self._page_label = page_label
        self._creator = creator
        self._margin = margin
        self._bottom_margin = bottom_margin
        self._footer_size = footer_size
        self._ops: list[_Op] = []
        self._texts: list[str] = [printable(title), self._footer, page_label, "0123456789"]

    # -- content --------------------------------------------------------------------------

    def text(
        self,
        value: str,
        *,
        size: float = 9,
        bold: bool = False,
        height: float | None = None,
        colour: RGB = BLACK,
        fill: RGB | None = None,
        align: str = "L",
    ) -> None:
        """A paragraph across the full width, wrapped at the margin."""
        from fpdf.enums import XPos, YPos

        shown = self._keep(value)
        line_height = height if height is not None else size * 0.5

        def op(pdf: FPDF) -> None:
            _set_font(pdf, size, bold)
            pdf.set_text_color(*colour)
            if fill is not None:
                pdf.set_fill_color(*fill)
            pdf.multi_cell(
                0,
                line_height,
                shown,
                fill=fill is not None,
                align=align,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            pdf.set_text_color(*BLACK)

        self._ops.append(op)

    def space(self, mm: float) -> None:
        """Vertical space of ``mm`` millimetres."""
        self._ops.append(lambda pdf: pdf.ln(mm))

    def table(
        self,
        widths: Sequence[float],
        rows: Sequence[Sequence[str]],
        *,
        size: float = 8,
        line_height: float = 4.2,
    ) -> None:
        """A table whose first row holds the column headings (repeated on every page)."""
        shown = [[self._keep(value) for value in row] for row in rows]

        def op(pdf: FPDF) -> None:
            _set_font(pdf, size, False)
            with pdf.table(
                col_widths=tuple(widths),
                text_align="LEFT",
                line_height=line_height,
                first_row_as_headings=True,
            ) as table:
                for values in shown:
                    row = table.row()
                    for value in values:
                        row.cell(value)

        self._ops.append(op)

    # -- output ---------------------------------------------------------------------------

    def render(self) -> bytes:
        """Draw the document and return the PDF."""
        from fpdf import FPDF

        document = self

        class _Pdf(FPDF):
            def footer(self) -> None:
                document._draw_footer(self)

        cjk_codes = self._cjk_code_points()
        with tempfile.TemporaryDirectory(prefix="traceport-pdf-") as folder:
            pdf = _Pdf(format="A4")
            try:
                pdf.alias_nb_pages(PAGES)
                pdf.set_title(self.title)
                if self._creator:
                    pdf.set_creator(self._creator)
                pdf.set_margins(self._margin, self._margin, self._margin)
                pdf.set_auto_page_break(auto=True, margin=self._bottom_margin)
                for style, weight in (("", 400), ("B", 700)):
                    text_file = Path(folder) / f"NotoSans-{weight}.ttf"
                    text_file.write_bytes(_text_font(weight))
                    pdf.add_font(_TEXT_FAMILY, style, text_file)
                if cjk_codes:
                    cjk_file = Path(folder) / "NotoSansSC-Regular.ttf"
                    cjk_file.write_bytes(_cjk_source().truetype(cjk_codes))
                    pdf.add_font(_CJK_FAMILY, "", cjk_file)
                    pdf.set_fallback_fonts([_CJK_FAMILY], exact_match=False)
                pdf.add_page()
                for op in self._ops:
                    op(pdf)
                return bytes(pdf.output())
            finally:
                # fpdf2 reads font files lazily; close them before the folder goes.
                for font in pdf.fonts.values():
                    ttfont = getattr(font, "ttfont", None)
                    if ttfont is not None:
                        ttfont.close()

    def _keep(self, value: str) -> str:
        shown = printable(value)
        self._texts.append(shown)
        return shown

    def _cjk_code_points(self) -> set[int]:
        latin = _text_cmap()
        codes = {ord(c) for text in self._texts for c in text} - latin
        codes.discard(ord("\n"))
        if not codes:
            return set()
        cjk = _cjk_source().cmap
        return {code for code in codes if code in cjk}

    def _draw_footer(self, pdf: FPDF) -> None:
        label = self._page_label.format(page=pdf.page_no(), pages=PAGES)
        pdf.set_y(-12)
        _set_font(pdf, self._footer_size, False)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(0, 5, f"{self._footer}{label}", align="C")
        pdf.set_text_color(*BLACK)


def _set_font(pdf: FPDF, size: float, bold: bool) -> None:
    pdf.set_font(_TEXT_FAMILY, "B" if bold else "", size)
