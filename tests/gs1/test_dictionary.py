"""The AI table comes from the vendored GS1 Barcode Syntax Dictionary, read strictly."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from itertools import pairwise

import pytest

from trace_core.gs1.dictionary import (
    DICTIONARY_FILE,
    DictionaryFormatError,
    ai_definition,
    load_syntax_dictionary,
    pattern_matches,
    syntax_dictionary,
)
from trace_core.gs1.linters import CHECKED_LINTERS, UNCHECKED_LINTERS

_DATA = resources.files("trace_core.gs1").joinpath("data")


def test_vendored_file_is_the_recorded_release() -> None:
    sources = _DATA.joinpath("SOURCES.md").read_text("utf-8")
    digest = hashlib.sha256(_DATA.joinpath(DICTIONARY_FILE).read_bytes()).hexdigest()
    assert re.search(rf"`{digest}`", sources), "update data/SOURCES.md when replacing the file"
    assert _DATA.joinpath("LICENSE").read_text("utf-8").strip().startswith("Apache License")


@pytest.mark.req("UDI-02")
def test_table_size_and_entries() -> None:
    table = syntax_dictionary()
    assert len(table) == 541
    gtin = table["01"]
    assert (gtin.title, gtin.predefined_length, gtin.dl_primary_key) == ("GTIN", True, True)
    assert gtin.dl_qualifiers == (("22", "10", "21"), ("235",))
    assert gtin.excludes == ("255", "37")
    lot = table["10"]
    assert (lot.predefined_length, lot.max_length, lot.dl_data_attribute) == (False, 20, True)
    assert lot.requires == ((("01",), ("02",), ("03",), ("8006",), ("8026",)),)
    assert table["3105"].excludes == ("310n",)
    assert "3106" not in table
    assert [table[ai].title for ai in ("91", "99")] == ["INTERNAL", "INTERNAL"]
    assert table["250"].requires == ((("01", "21"), ("03", "21"), ("8006", "21")),)
    grai = table["8003"]
    assert [(c.charset, c.max_length, c.optional) for c in grai.components] == [
        ("N", 1, False),
        ("N", 13, False),
        ("X", 16, True),
    ]
    assert grai.max_length == 30


def test_no_ai_is_a_prefix_of_another() -> None:
    # Element-string splitting (ai_at) relies on GS1's allocation rule.
    ais = sorted(syntax_dictionary())
    assert not [(a, b) for a, b in pairwise(ais) if b.startswith(a)]


def test_every_linter_is_checked_or_listed_as_unchecked() -> None:
    used = {
        linter
        for definition in syntax_dictionary().values()
        for component in definition.components
        for linter in component.linters
    }
    assert used <= set(CHECKED_LINTERS) | set(UNCHECKED_LINTERS)
    assert used & set(UNCHECKED_LINTERS) == set(UNCHECKED_LINTERS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("01  *?  N14,csum,mystery  # GTIN", "line 1: unknown linter(s) mystery"),
        ("01  *?  N14  frobnicate=1  # GTIN", "line 1: unknown attribute 'frobnicate=1'"),
        ("01  *?  # GTIN", "line 1: no data components"),
        ("01  *?  N14 [X..3  # GTIN", "line 1: unbalanced brackets in '[X..3'"),
        ("3109-3100  N6", "line 1: bad AI range '3109-3100'"),
        ("01  N14\n01  N14", "line 2: AI 01 defined twice"),
        ("10  X..20  req=01+x1", "line 1: bad AI pattern 'x1'"),
    ],
)
def test_loader_refuses_what_it_does_not_understand(line: str, message: str) -> None:
    with pytest.raises(DictionaryFormatError) as caught:
        load_syntax_dictionary(line)
    assert str(caught.value) == message


def test_patterns() -> None:
    assert pattern_matches("310n", "3105")
    assert pattern_matches("35nn", "3520")
    assert not pattern_matches("310n", "3115")
    assert not pattern_matches("01", "010")
    assert ai_definition("9999") is None
