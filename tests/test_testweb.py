"""The test web itself must behave as documented, or tests built on it prove nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from testweb import TestWeb, refused_port


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A client that ignores proxy and CA-bundle variables, so requests stay on loopback."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def test_article_answers_conditional_requests_with_304(
    web: TestWeb, http: requests.Session
) -> None:
    first = http.get(web.url("/article/budget-vote"))
    assert first.status_code == 200
    assert "<title>Budget vote — Test News</title>" in first.text
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    by_etag = http.get(web.url("/article/budget-vote"), headers={"If-None-Match": etag})
    by_date = http.get(web.url("/article/budget-vote"), headers={"If-Modified-Since": modified})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_date.status_code == 304
    # A different slug is a different article, so the old validator must not match it.
    other = http.get(web.url("/article/flooded-streets"), headers={"If-None-Match": etag})
    assert other.status_code == 200
    assert other.text != first.text


def test_flaky_and_rate_limited_fail_once_then_succeed(
    web: TestWeb, http: requests.Session
) -> None:
    failed = http.get(web.url("/flaky/k1"))
    assert (failed.status_code, failed.headers["Retry-After"]) == (503, "1")
    assert http.get(web.url("/flaky/k1")).status_code == 200
    # Keys are independent: another key fails once on its own.
    assert http.get(web.url("/flaky/k2")).status_code == 503

    limited = http.get(web.url("/ratelimited/k1"))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert http.get(web.url("/ratelimited/k1")).status_code == 200


def test_redirects_chain_loop_and_permanent(web: TestWeb, http: requests.Session) -> None:
    chain = http.get(web.url("/chain/3"))
    assert [r.status_code for r in chain.history] == [302, 302, 302]
    assert (chain.status_code, chain.url) == (200, web.url("/chain/0"))

    moved = http.get(web.url("/redirect/permanent"))
    assert [r.status_code for r in moved.history] == [301]
    assert moved.url == web.url("/article/moved-here")

    with pytest.raises(requests.TooManyRedirects):
        http.get(web.url("/loop/a"))


def test_catch_all_host_answers_unknown_paths_with_a_varying_200_template(
    http: requests.Session,
) -> None:
    with TestWeb(catch_all_soft404=True) as site:
        one = http.get(site.url("/no/such/page"))
        two = http.get(site.url("/no/such/page"))
        assert one.status_code == two.status_code == 200
        assert "Oops! We couldn't find that page." in one.text
        assert 'class="site-nav"' in one.text
        assert one.text != two.text  # request time and token change on every hit
        assert http.get(site.url("/status/404")).status_code == 404  # known routes still work
        assert http.get(site.url("/article/kept")).status_code == 200


def test_unknown_path_is_404_and_set_page_overrides_routes(
    web: TestWeb, http: requests.Session
) -> None:
    missing = http.get(web.url("/no/such/page"))
    assert missing.status_code == 404
    assert "Not Found" in missing.text

    web.set_page("/article/budget-vote", "<html><body>Rewritten</body></html>")
    assert http.get(web.url("/article/budget-vote")).text == "<html><body>Rewritten</body></html>"
    web.set_page("/article/budget-vote", "Gone", status=410)
    assert http.get(web.url("/article/budget-vote")).status_code == 410


def test_request_log_records_method_path_and_user_agent(
    web: TestWeb, http: requests.Session
) -> None:
    http.head(web.url("/head405"), headers={"User-Agent": "LinkChecker/1.0"})
    http.get(web.url("/article/a?ref=home"), headers={"User-Agent": "LinkChecker/1.0"})

    assert [(r.method, r.path) for r in web.requests] == [
        ("HEAD", "/head405"),
        ("GET", "/article/a?ref=home"),
    ]
    (record,) = web.requests_to("/article/")
    assert record.header("user-agent") == "LinkChecker/1.0"
    assert record.client[0] == "127.0.0.1"


def test_wait_for_requests_returns_when_a_slow_request_arrives(
    web: TestWeb, http: requests.Session
) -> None:
    pending = threading.Thread(target=lambda: http.get(web.url("/slow/1")), daemon=True)
    pending.start()
    (arrived,) = web.wait_for_requests("/slow/", timeout=10)
    assert arrived.path == "/slow/1" and pending.is_alive()  # asked for, not yet answered
    with pytest.raises(AssertionError, match="1 of 2 request"):
        web.wait_for_requests("/slow/", count=2, timeout=0.2)
    pending.join(timeout=10)


def test_head_can_disagree_with_get(web: TestWeb, http: requests.Session) -> None:
    assert http.head(web.url("/head405")).status_code == 405
    assert http.head(web.url("/head-lies")).status_code == 404
    assert http.get(web.url("/head-lies")).status_code == 200


def test_legacy_charset_is_declared_only_in_the_page(web: TestWeb, http: requests.Session) -> None:
    page = http.get(web.url("/cp1251"))
    assert page.headers["Content-Type"] == "text/html"
    assert '<meta charset="windows-1251">' in page.content.decode("cp1251")
    assert "Полиция задерживала людей с синими шарами в Алматы." in page.content.decode("cp1251")


def test_big_page_has_exactly_the_requested_size(web: TestWeb, http: requests.Session) -> None:
    page = http.get(web.url("/big/100000"))
    assert len(page.content) == int(page.headers["Content-Length"]) == 100_000
    assert page.content.endswith(b"</html>\n")


def test_web2_listens_on_a_second_loopback_address(
    web: TestWeb, web2: TestWeb, http: requests.Session
) -> None:
    assert web2.base.startswith("http://127.0.0.2:")
    assert http.get(web2.url("/")).status_code == 200
    assert [r.path for r in web2.requests] == ["/"]
    assert web.requests == []


def test_tls_web_serves_https_with_its_self_signed_certificate(
    tls_web: TestWeb, http: requests.Session
) -> None:
    assert tls_web.base.startswith("https://127.0.0.1:")
    assert tls_web.cert_path is not None
    page = http.get(tls_web.url("/"), verify=str(tls_web.cert_path))
    assert "<title>Test News — Home</title>" in page.text

    with pytest.raises(requests.exceptions.SSLError):
        http.get(tls_web.url("/"), verify=True)


def test_refused_port_refuses(http: requests.Session) -> None:
    with pytest.raises(requests.ConnectionError):
        http.get(f"http://127.0.0.1:{refused_port()}/", timeout=2)
