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


def _corpus() -> list[str]:
    """Cited URLs of many shapes: the plain ones canonical_url works out itself, and every
    neighbour of them that only url-normalize handles (escapes, dot segments, IDN, ports)."""
    hosts = [
        "a.kz",
        "Example.COM",
        "host-0001.example",
        "xn--e1afmkfd.xn--p1ai",
        "trailing.",
        "a..b.kz",
        "under_score.kz",
        "-bad-.kz",
        "x" * 64 + ".kz",
        "127.0.0.1",
        "пример.рф",
    ]
    ports = ["", ":80", ":443", ":8080", ":00443", ":0"]
    paths = [
        "",
        "/",
        "/a/b",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/a/..",
        "/a/.",
        "/%7euser",
        "/%2F",
        "/a%20b",
        "/p;x=1,y'()*!$@:",
        "/é",
        "/a[1]",
        "/~x+y",
    ]
    queries = [
        "",
        "?",
        "?&",
        "?id=2",
        "?a=1&&b",
        "?flag",
        "?=x",
        "?a=b=c",
        "?utm_source=x&id=2",
        "?FBCLID=1&q=a+b",
        "?utm+x=1",
        "?si=1&v=C8m_KQHo7bc",
        "?q=a?b",
        "?q=%2B",
        "?a=;/",
    ]
    fragments = ["", "#", "#top", "#!/page", "#a#b"]
    urls = []
    for i, (scheme, host) in enumerate((s, h) for s in ("http", "https", "HTTPS") for h in hosts):
        for j, path in enumerate(paths):
            port = ports[(i + j) % len(ports)]
            query = queries[(i * 7 + j) % len(queries)]
            fragment = fragments[(i + j * 3) % len(fragments)]
            urls.append(f"{scheme}://{host}{port}{path}{query}{fragment}")
    return urls


def test_plain_urls_get_the_same_canonical_form_as_through_url_normalize() -> None:
    # canonical_url works out plain ASCII URLs itself; the result must be url-normalize's.
    from archiver import urls

    def outcome(url: str, fast: bool) -> str:
        try:
            return urls._canonical(url, fast=fast)
        except InvalidURL as exc:
            return f"InvalidURL: {exc}"

    corpus = _corpus()
    assert sum(urls._simple_canonical(u) is not None for u in corpus) > 50
    assert [outcome(u, True) for u in corpus] == [outcome(u, False) for u in corpus]


def test_any_whitespace_makes_a_url_invalid() -> None:
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace()]
    for space in spaces:
        with pytest.raises(InvalidURL):
            canonical_url(f"https://a.kz/x{space}y")
