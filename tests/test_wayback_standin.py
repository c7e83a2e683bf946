"""The local Wayback Machine must speak the Archive's formats, or tests on it prove nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from wayback_standin import WaybackStandin

KEYS = {"Authorization": "LOW test-access:test-secret", "Accept": "application/json"}
PAGE = "https://example.org/news/1"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A client that ignores proxy variables, so requests stay on loopback."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def seed(wayback: WaybackStandin) -> None:
    wayback.add_snapshot(PAGE, "20170601120000")
    wayback.add_snapshot(PAGE, "20180301000000", status=404)
    wayback.add_snapshot("http://www.example.org/news/1", "20180320000000", status=301)
    wayback.add_snapshot(PAGE, "20190101000000", body="<p>2019</p>")
    wayback.add_snapshot("https://example.org/other", "20180101000000")


def test_cdx_json_has_the_header_row_first_and_filters(
    wayback: WaybackStandin, http: requests.Session
) -> None:
    seed(wayback)
    cdx = wayback.url("/cdx/search/cdx")
    rows = http.get(cdx, params={"url": PAGE, "output": "json"}).json()
    assert rows[0] == [
        "urlkey",
        "timestamp",
        "original",
        "mimetype",
        "statuscode",
        "digest",
        "length",
    ]
    # The www. and http:// variants are the same page, as on the real server (SURT keys).
    assert [r[1] for r in rows[1:]] == [
        "20170601120000",
        "20180301000000",
        "20180320000000",
        "20190101000000",
    ]
    assert rows[1][0] == "org,example)/news/1"

    ok = http.get(
        cdx,
        params={
            "url": PAGE,
            "output": "json",
            "fl": "timestamp,statuscode",
            "filter": "statuscode:200",
        },
    ).json()
    assert ok == [["timestamp", "statuscode"], ["20170601120000", "200"], ["20190101000000", "200"]]
    not_ok = http.get(
        cdx, params={"url": PAGE, "output": "json", "fl": "timestamp", "filter": "!statuscode:200"}
    ).json()
    assert not_ok == [["timestamp"], ["20180301000000"], ["20180320000000"]]
    assert http.get(cdx, params={"url": "https://nothing.example/", "output": "json"}).json() == []


def test_cdx_text_closest_limits_and_ranges(
    wayback: WaybackStandin, http: requests.Session
) -> None:
    seed(wayback)
    cdx = wayback.url("/cdx/search/cdx")

    def stamps(**params: str) -> list[str]:
        text = http.get(cdx, params={"url": PAGE, **params}).text
        lines = text.splitlines()
        assert all(len(line.split(" ")) == 7 for line in lines)  # the seven default fields
        return [line.split(" ")[1] for line in lines]

    assert stamps(sort="closest", closest="20180315000000", limit="2") == [
        "20180320000000",
        "20180301000000",
    ]
    assert stamps(limit="-1") == ["20190101000000"]
    assert stamps(limit="1") == ["20170601120000"]
    assert stamps(to="2018") == ["20170601120000", "20180301000000", "20180320000000"]
    assert stamps(**{"from": "201803", "to": "20180315"}) == ["20180301000000"]
    assert stamps(sort="reverse", limit="1") == ["20190101000000"]


def test_captures_can_appear_in_the_cdx_index_late(
    wayback: WaybackStandin, http: requests.Session
) -> None:
    moment = [time.time()]  # the stand-in's clock, moved by the test: no waiting, no race
    wayback.now = lambda: moment[0]
    wayback.add_snapshot(PAGE, "20240101000000", visible_after=0.3)
    cdx = wayback.url("/cdx/search/cdx")
    assert http.get(cdx, params={"url": PAGE}).text == ""
    moment[0] += 0.35
    assert "20240101000000" in http.get(cdx, params={"url": PAGE}).text


def test_availability_api_shape(wayback: WaybackStandin, http: requests.Session) -> None:
    seed(wayback)
    available = wayback.url("/wayback/available")
    answer = http.get(available, params={"url": PAGE, "timestamp": "20180801"}).json()
    # The 404 and 301 captures are nearer, but the API offers a capture that answered 200.
    assert answer == {
        "url": PAGE,
        "archived_snapshots": {
            "closest": {
                "status": "200",
                "available": True,
                "url": wayback.url(f"/web/20190101000000/{PAGE}"),
                "timestamp": "20190101000000",
            }
        },
    }
    none = http.get(available, params={"url": "https://nothing.example/"}).json()
    assert none == {"url": "https://nothing.example/", "archived_snapshots": {}}


def test_playback_redirects_to_the_nearest_capture(
    wayback: WaybackStandin, http: requests.Session
) -> None:
    seed(wayback)
    near = http.get(wayback.url(f"/web/20181231/{PAGE}"), allow_redirects=False)
    assert near.status_code == 302
    assert near.headers["Location"] == wayback.url(f"/web/20190101000000/{PAGE}")
    raw = http.get(wayback.url(f"/web/20181231id_/{PAGE}"))
    assert raw.url == wayback.url(f"/web/20190101000000id_/{PAGE}")
    assert (raw.status_code, raw.text) == (200, "<p>2019</p>")
    assert "Memento-Datetime" in raw.headers
    gone = http.get(wayback.url(f"/web/20180301000000id_/{PAGE}"))
    assert gone.status_code == 404  # a capture of a 404 page replays as a 404
    assert http.get(wayback.url("/web/2018/https://nothing.example/")).status_code == 404


def test_save_needs_the_keys(wayback: WaybackStandin, http: requests.Session) -> None:
    save = wayback.url("/save")
    assert http.post(save, data={"url": PAGE}).status_code == 401
    wrong = {"Authorization": "LOW test-access:wrong"}
    assert http.post(save, data={"url": PAGE}, headers=wrong).status_code == 401
    assert http.get(wayback.url("/save/status/user")).status_code == 401
    assert wayback.jobs == []


def test_save_then_poll_until_success(wayback: WaybackStandin, http: requests.Session) -> None:
    wayback.job_outcome(PAGE, pending_polls=2)
    answer = http.post(wayback.url("/save"), data={"url": PAGE}, headers=KEYS).json()
    assert answer["url"] == PAGE
    assert answer["job_id"].startswith("spn2-")
    user = http.get(wayback.url("/save/status/user"), headers=KEYS).json()
    assert user == {
        "available": 2,
        "processing": 1,
        "daily_captures": 0,
        "daily_captures_limit": 100_000,
    }
    status = wayback.url(f"/save/status/{answer['job_id']}")
    assert http.get(status).json()["status"] == "pending"
    assert http.get(status).json()["status"] == "pending"
    done = http.get(status).json()
    assert done["status"] == "success"
    assert done["original_url"] == PAGE
    assert len(done["timestamp"]) == 14
    cdx = http.get(wayback.url("/cdx/search/cdx"), params={"url": PAGE}).text
    assert done["timestamp"] in cdx
    saved = wayback.requests_of("save")[0]
    assert saved.form["url"] == [PAGE]
    assert saved.headers["Authorization"] == "LOW test-access:test-secret"


def test_refusals_come_with_http_200(wayback: WaybackStandin, http: requests.Session) -> None:
    wayback.refuse(PAGE, "error:blocked-url", "This URL is in the Save Page Now service blocklist")
    refused = http.post(wayback.url("/save"), data={"url": PAGE}, headers=KEYS)
    assert refused.status_code == 200
    assert refused.json() == {
        "status": "error",
        "status_ext": "error:blocked-url",
        "message": "This URL is in the Save Page Now service blocklist",
    }
    wayback.job_outcome("https://example.org/gone", status_ext="error:not-found", pending_polls=0)
    job = http.post(
        wayback.url("/save"), data={"url": "https://example.org/gone"}, headers=KEYS
    ).json()
    failed = http.get(wayback.url(f"/save/status/{job['job_id']}")).json()
    assert (failed["status"], failed["status_ext"]) == ("error", "error:not-found")


def test_sessions_run_out_and_jobs_can_stay_pending(
    wayback: WaybackStandin, http: requests.Session
) -> None:
    wayback.sessions = 1
    wayback.job_outcome(PAGE, stay_pending=True)
    job = http.post(wayback.url("/save"), data={"url": PAGE}, headers=KEYS).json()
    busy = http.post(wayback.url("/save"), data={"url": "https://example.org/2"}, headers=KEYS)
    assert busy.json()["status_ext"] == "error:user-session-limit"
    status = wayback.url(f"/save/status/{job['job_id']}")
    assert [http.get(status).json()["status"] for _ in range(3)] == ["pending"] * 3
    wayback.release_jobs()
    assert http.get(status).json()["status"] == "success"


def test_if_not_archived_within_returns_the_recent_capture(
    wayback: WaybackStandin, http: requests.Session
) -> None:
    recent = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() - 3600))
    wayback.add_snapshot(PAGE, recent)
    wayback.job_outcome(PAGE, pending_polls=0)
    form = {"url": PAGE, "if_not_archived_within": "1d"}
    job = http.post(wayback.url("/save"), data=form, headers=KEYS).json()
    done = http.get(wayback.url(f"/save/status/{job['job_id']}")).json()
    assert done["timestamp"] == recent
    assert "same snapshot" in done["message"]


def test_failure_modes_per_kind(wayback: WaybackStandin, http: requests.Session) -> None:
    cdx = wayback.url("/cdx/search/cdx")
    wayback.fail("cdx", 429, times=2)
    limited = http.get(cdx, params={"url": PAGE})
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert http.get(cdx, params={"url": PAGE}).status_code == 429
    assert http.get(cdx, params={"url": PAGE}).status_code == 200
    # Other kinds are untouched by the CDX server's trouble.
    wayback.fail("cdx", 503)
    assert http.get(wayback.url("/wayback/available"), params={"url": PAGE}).status_code == 200
    assert http.get(cdx, params={"url": PAGE}).status_code == 503

    wayback.slow("status", 0.5)
    with pytest.raises(requests.Timeout):
        http.get(wayback.url("/save/status/spn2-nothing"), timeout=0.1)
    assert http.get(wayback.url("/save/status/spn2-nothing"), timeout=2).status_code == 404
    kinds = [r.kind for r in wayback.requests]
    assert kinds == ["cdx", "cdx", "cdx", "available", "cdx", "status", "status"]
