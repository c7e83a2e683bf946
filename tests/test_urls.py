import pytest

from archiver.errors import InvalidURL
from archiver.urls import canonical_url, unsupported_scheme


@pytest.mark.parametrize(
    ("cited", "canonical"),
    [
        ("HTTP://Tengrinews.KZ:80/zakon/#z4", "http://tengrinews.kz/zakon/"),
        ("https://example.com:443", "https://example.com/"),
        (
            "https://www.youtube.com/watch?v=C8m_KQHo7bc&utm_source=tw&fbclid=abc",
            "https://www.youtube.com/watch?v=C8m_KQHo7bc",
        ),
        (
            "https://www.facebook.com/permalink.php?story_fbid=1011&id=2364618",
            "https://www.facebook.com/permalink.php?story_fbid=1011&id=2364618",
        ),
        (
            "http://ru.odfoundation.eu/a/8481,kazahstan",
            "http://ru.odfoundation.eu/a/8481,kazahstan",
        ),
        ("http://пример.рф/путь", "http://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C"),
    ],
)
def test_canonical_form(cited: str, canonical: str) -> None:
    assert canonical_url(cited) == canonical


def test_different_pages_stay_different() -> None:
    a = canonical_url("https://www.facebook.com/permalink.php?story_fbid=1&id=2")
    b = canonical_url("https://www.facebook.com/permalink.php?story_fbid=3&id=2")
    assert a != b


@pytest.mark.parametrize(
    "url",
    ["http://", "https://exa mple.com/", "http://host:99999/", "http:///path", "www.example.com/a"],
)
def test_urls_that_do_not_parse(url: str) -> None:
    with pytest.raises(InvalidURL):
        canonical_url(url)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mailto:a@b.kz", "mailto"),
        ("javascript:alert(1)", "javascript"),
        ("file:///etc/passwd", "file"),
        ("www.example.com/a", None),
        ("https://x.kz/", None),
        ("HTTP://x.kz/", None),
    ],
)
def test_unsupported_schemes(url: str, scheme: str | None) -> None:
    assert unsupported_scheme(url) == scheme
