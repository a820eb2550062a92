"""The password policy (P11-23): length, the bundled common-password list with the rules
around it, names, repetitions and keyboard runs; and what it accepts."""

from __future__ import annotations

import pytest

from trace_core.identity.password_policy import common_passwords, password_problem

EMAIL = "lena.vogt@acme-polymers.example"
NAME = "Lena Vogt"
ORG = "Acme Polymers"


@pytest.mark.req("P11-23")
@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Short-pw-1", "at least 12 characters"),
        ("password1234", "too common"),
        ("P@ssw0rd2024!", "too common"),
        ("Summer2024!!!", "too common"),
        ("2024-Iloveyou!", "too common"),
        ("Welcome!!1234", "too common"),
        ("Pa$$w0rd-1234", "too common"),
        ("qwerty123456", "keyboard or alphabet"),
        ("1qaz2wsx3edc4rfv", "keyboard or alphabet"),
        ("abcdefghijkl", "keyboard or alphabet"),
        ("098765432109", "keyboard or alphabet"),
        ("aaaaaaaaaaaaaa", "different characters"),
        ("abababababab", "different characters"),
        ("passwordpassword", "repeats a shorter sequence"),
        ("Xy7#qXy7#qXy7#q", "repeats a shorter sequence"),
        ("my-lena.vogt-key", "your user name"),
        ("vogt-family-garden", "your name"),
        ("Acme-2024-!!!", "name of your company"),
        ("AcmePolymers#1", "name of your company"),
        ("Tr4ceport2024!", "name of your company or of this product"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, expected: str) -> None:
    problem = password_problem(password, EMAIL, (NAME,), ORG)
    assert problem is not None and expected in problem, problem


@pytest.mark.parametrize(
    "password",
    [
        "Blue-Fjord-Kettle-9",
        "correct horse battery staple",
        "Zx7!mQ2#rT9p",
        "Traceport-demo-1",  # the demo accounts' password: a passphrase around the name
        "床前明月光疑是地上霜举头望",
        "Lantern harbour quiet 42",
    ],
)
def test_good_passwords_pass(password: str) -> None:
    assert password_problem(password, EMAIL, (NAME,), ORG) is None


def test_the_bundled_list_is_substantial_and_normalised() -> None:
    words = common_passwords()
    assert len(words) >= 1000
    assert {"password", "123456", "qwerty", "iloveyou", "traceport"} <= words
    assert all(word == word.strip().lower() and word for word in words)
