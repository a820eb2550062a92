"""The password policy (P11-23): what makes a password too easy to guess.

A password is refused when it is shorter than 12 characters; contains the person's user name
or own name; is built on their company's name or this product's name; uses fewer than five
different characters; repeats a shorter sequence; is mostly keyboard or alphabet runs
(``qwerty``, ``1qaz2wsx``, ``abcdef``, ``987654``); or is a common password, also when it is
only a common password or word with digits and symbols around it, in another case or in l33t
spelling (``P@ssw0rd2024!`` is ``password``).

There is deliberately no rule asking for digits, capitals or symbols (NIST SP 800-63B §5.1.1.2:
composition rules make passwords harder to remember, not harder to guess). The common list is
``data/common-passwords.txt``; its header says where it comes from.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import cache
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_DISTINCT = 5
#: Names nobody may use inside a password here: the product's own.
PRODUCT_WORDS = ("traceport",)

#: Name particles and legal forms too short or too general to forbid inside a password.
_PARTICLES = frozenset({"van", "von", "der", "den", "del", "dos", "das", "mac", "bin", "ibn"})
_COMPANY_WORDS = frozenset({"gmbh", "corp", "inc.", "limited", "company", "group", "holding"})
_LIST_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
_AROUND = string.digits + string.punctuation + string.whitespace
_SEPARATORS = re.compile(r"[\s._\-+*/\\|,;:~]+")
_LEET = (
    str.maketrans("@4$5!17+30896|", "aassiitteobggi"),
    str.maketrans("@4$5!17+30896|", "aasslltteobggl"),
)
_ROWS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/-['=]",
    "qazwsxedcrfvtgbyhnujmikolp",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
    "789456123",
    "741852963",
    "147258369",
)
_SEQUENCES = _ROWS + tuple(row[::-1] for row in _ROWS)


@cache
def common_passwords() -> frozenset[str]:
    lines = _LIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def _name_parts(text: str, min_length: int) -> set[str]:
    return {part for part in re.split(r"[^\w]+", text.lower()) if len(part) >= min_length}


def _spellings(password: str) -> set[str]:
    """The password as typed (lower case), and its l33t-decoded spellings."""
    lowered = password.lower()
    return {lowered, *(lowered.translate(table) for table in _LEET)}


def _cores(password: str) -> set[str]:
    """What is left of the password without digits and symbols around it, separators inside
    it and l33t spelling: the word a guesser starts from."""
    lowered = password.lower()
    stripped = lowered.strip(_AROUND)
    cores = {lowered, stripped, _SEPARATORS.sub("", stripped)}
    for core in list(cores):
        cores.update(core.translate(table) for table in _LEET)
    return {core.strip(_AROUND) for core in cores} - {""}


def _repeats_a_shorter_sequence(password: str) -> bool:
    n = len(password)
    return any(
        n % size == 0 and password == password[:size] * (n // size) for size in range(1, n // 2 + 1)
    )


def _run_coverage(password: str) -> float:
    """The share of characters that belong to a run of three or more along a keyboard row,
    column walk, the alphabet or the digits."""
    lowered = password.lower()
    n = len(lowered)
    covered = [False] * n
    for start in range(n):
        length = 3
        while start + length <= n and any(lowered[start : start + length] in s for s in _SEQUENCES):
            length += 1
        if length > 3:
            for i in range(start, start + length - 1):
                covered[i] = True
    return sum(covered) / n if n else 0.0


def password_problem(
    password: str, username: str, names: Iterable[str] = (), organization: str | None = None
) -> str | None:
    """Why ``password`` is not acceptable for the person with this user name (e-mail), own
    ``names`` (full name) and ``organization`` name, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    spellings = _spellings(password)
    local, _, domain = username.lower().partition("@")
    if len(local) >= 3 and any(local in s for s in spellings):
        return "The password must not contain your user name."
    own_names = {part for name in names for part in _name_parts(name, 3)} - _PARTICLES
    own_names |= _name_parts(local, 3)
    if any(part in s for part in own_names for s in spellings):
        return "The password must not contain your name."
    # The company's and the product's names are refused as the word a password is built on
    # ("Acme2024!", "Tr4ceport-1"), not anywhere inside a longer passphrase.
    company = _name_parts(domain.rpartition(".")[0], 4) | set(PRODUCT_WORDS)
    company |= _name_parts(organization or "", 4) - _COMPANY_WORDS
    company |= {re.sub(r"[^\w]+", "", (organization or "").lower())} - {""}
    cores = _cores(password)
    if cores & company:
        return "The password must not be the name of your company or of this product."
    if len(set(password.lower())) < MIN_DISTINCT:
        return f"Use at least {MIN_DISTINCT} different characters."
    if _repeats_a_shorter_sequence(password.lower()):
        return "The password repeats a shorter sequence; choose one that does not."
    if _run_coverage(password) >= 0.75:
        return "The password is a keyboard or alphabet sequence; choose another."
    if cores & common_passwords():
        return (
            "This password is too common: a well-known password or word, perhaps with digits "
            "or symbols added. Choose another."
        )
    return None


def new_password_problems(
    password: str, again: str, email: str, full_name: str, organization: str | None
) -> dict[str, str]:
    """Per-field problems with a new password typed twice (empty when it is acceptable)."""
    problem = password_problem(password, email, (full_name,), organization)
    if problem:
        return {"password": problem}
    if password != again:
        return {"password_again": "The two passwords differ; type the same one twice."}
    return {}
