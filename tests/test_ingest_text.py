"""Text extracted from PDFs: footnote numbers and URLs arrive scrambled and must be re-paired."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import InputError
from archiver.ingest.model import ParsedReport
from archiver.ingest.text import parse_text, read_text

SEED = Path(__file__).parent / "data" / "000_227782df85e410f6.txt"

# What a human reads from the seed report's footnotes.
SEED_FOOTNOTES = {
    1: ["http://ru.odfoundation.eu/a/8481,kazahstan-bolee-700-shahterov-obyavili-zabastovku"],
    2: [
        "http://prokuror.gov.kz/rus/novosti/press-releasy/o-priznanii-dvizheniya-dvk-ekstremistskim"
    ],
    3: ["https://www.facebook.com/permalink.php?story_fbid=10112435094926904&id=2364618"],
    4: [
        "https://bureau.kz/novosti/sobstvennaya_informaciya/izgnanie_eresi_cherez_obyyasnitelnuyu/"
    ],
    5: [
        "https://www.facebook.com/toregozhina/posts/1857241457621764",
        "https://www.facebook.com/permalink.php?story_fbid=10112435094926904&id=2364618",
    ],
    6: ["https://www.youtube.com/watch?v=C8m_KQHo7bc"],
    7: ["https://www.youtube.com/watch?v=ucG1ynh0CGM"],
    8: ["https://www.youtube.com/watch?v=JpLOg3OOaCs"],
    9: ["https://www.youtube.com/watch?v=prtjcnmzgMs"],
    10: ["https://www.youtube.com/watch?v=MODpPW7eZHw"],
    11: ["https://www.youtube.com/watch?v=kveM_i9dBsQ"],
    12: ["https://www.facebook.com/mukhtar.ablyazov/videos/1226422440825647/"],
    13: ["https://www.facebook.com/mukhtar.ablyazov/videos/1227746644026560/"],
    14: ["https://rus.azattyq.org/a/29115065.html"],
    15: [
        "https://tengrinews.kz/kazakhstan_news/"
        "video-izyyatiem-sinih-sharov-nauryiz-prokommentirovali-mvd-340610/"
    ],
    16: [
        "https://tengrinews.kz/zakon/pravitelstvo_respubliki_kazahstan_premer_ministr_rk/"
        "natsionalnaya_bezopasnost/id-P1500001142/#z4"
    ],
    17: [
        "http://en.odfoundation.eu/a/7944,"
        "report-oppression-of-participants-in-rallies-against-land-reform-in-kazakhstan"
    ],
    18: ["http://www.time.kz/articles/zloba/2018/03/23/sariki-za-roliki"],
    19: [
        "https://informburo.kz/novosti/"
        "na-aktivistov-dvk-zaveli-ugolovnye-dela-v-pyati-regionah-kazahstana.html"
    ],
    20: [
        "https://bureau.kz/novosti/sobstvennaya_informaciya/"
        "v_almaty_nachalis_sudy_nad_storonnikami_dvk/"
    ],
    21: ["https://rus.azattyq.org/a/akmaral-tobylova-almaty-amnesty-uznica-sovesti/29134675.html"],
    22: ["https://amnesty.org.ru/ru/2018-03-27-kazakhstan/"],
    23: ["http://en.odfoundation.eu/a/8553,the-case-of-almat-zhumagulov-and-kenzhebek-abishev"],
    24: [
        "http://en.odfoundation.eu/a/8451,the-case-of-zhanara-akhmetova-ukraine-once-again-helps-"
        "the-authoritarian-regime-to-get-an-opposition-journalist"
    ],
    25: [
        "http://en.odfoundation.eu/a/8465,on-22-november-the-court-will-consider-the-appeal-"
        "against-the-extradition-arrest-of-zhanara-akhmetova"
    ],
    26: ["https://www.facebook.com/bekzhan.akhmetov/posts/1810672788976922"],
    27: [
        "http://en.odfoundation.eu/a/8565,"
        "report-iskander-yerimbetov-political-hostage-of-nazarbayev-s-regime"
    ],
    28: ["https://freedomhouse.org/blog/kazakhstan-holds-citizens-hostage-pursuit-regime-opponent"],
    29: ["https://rus.azattyq.org/a/29139419.html"],
    30: ["https://rus.azattyq.org/a/29137163.html"],
}


def mapping(report: ParsedReport) -> dict[int, list[str]]:
    """Footnote → URLs in position order, as the reader returned them."""
    result: dict[int, list[str]] = {}
    for cited in sorted(report.citations, key=lambda c: (c.footnote, c.position)):
        result.setdefault(cited.footnote, []).append(cited.url)
    return result


def contexts(report: ParsedReport) -> dict[int, str | None]:
    """Footnote → context of its citations."""
    return {cited.footnote: cited.context for cited in report.citations}


@pytest.fixture(scope="module")
def seed() -> ParsedReport:
    return read_text(SEED)


def test_seed_footnotes_map_to_their_urls(seed: ParsedReport) -> None:
    assert mapping(seed) == SEED_FOOTNOTES


def test_seed_positions_and_lines_point_into_the_file(seed: ParsedReport) -> None:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    for cited in seed.citations:
        assert cited.line is not None
        assert cited.url in lines[cited.line - 1]
    assert [(c.position, c.line) for c in seed.citations if c.footnote == 5] == [(1, 142), (2, 142)]


def test_seed_markers_without_urls(seed: ParsedReport) -> None:
    assert seed.markers_without_urls == list(range(31, 39))


def test_seed_contexts_are_the_citing_sentences(seed: ParsedReport) -> None:
    found = contexts(seed)
    assert found[12] == (
        "On 21 March 2018, at the square in Almaty, policemen pushed to the ground and twisted "
        "the arms of a cyclist who was riding with blue balloons."
    )
    assert found[1] == (
        "Protest sentiment in Kazakhstan is on the rise, as confirmed by the recent strikes and "
        "protests by oil workers and trade unionists."
    )
    # A marker inside the sentence ("DCK8;") and one after a quote and a space ("’ 5,").
    assert "the court's decision to ban the DCK; they explained it" in (found[8] or "")
    assert (found[5] or "").startswith(
        "According to the statements of the General Prosecutor's Office and the content of "
        "‘explanations’, under criminal law"
    )
    # The sentence of footnote 19 runs across a page bottom.
    assert (found[19] or "").endswith(
        "there is information about eight people who have been prosecuted for this)."
    )
    for context in found.values():
        assert context and len(context) <= 400


def test_seed_footers_and_page_numbers_are_not_citations(seed: ParsedReport) -> None:
    assert sorted(mapping(seed)) == list(range(1, 31))
    urls = [cited.url for cited in seed.citations]
    assert all(url.startswith(("http://", "https://")) for url in urls)
    assert not any("//www.odfoundation.eu" in url for url in urls)
    assert not any("odfoundation.eu" in item.url for item in seed.skipped)


def test_seed_contact_list_urls_are_not_imported(seed: ParsedReport) -> None:
    contacts = {
        "https://register.state.gov/contactus/contactusform",
        "http://www.house.gov/contact/",
    }
    assert not contacts & {cited.url for cited in seed.citations}
    assert {item.url for item in seed.skipped if item.reason == "not in a footnote"} == contacts
    assert not any("@" in cited.url for cited in seed.citations)


def test_number_after_its_url() -> None:
    text = (
        "The report was published in May.1 It was criticised widely.2\n"
        "\n"
        "https://example.org/report\n"
        "1\n"
        "https://example.org/criticism\n"
        "2\n"
        "\n"
        "3\n"
    )
    report = parse_text(text, "after.txt")
    assert mapping(report) == {
        1: ["https://example.org/report"],
        2: ["https://example.org/criticism"],
    }
    assert contexts(report)[2] == "It was criticised widely."
    assert [c.line for c in report.citations] == [3, 5]


def test_two_numbers_before_two_urls() -> None:
    text = (
        "Arrests followed the rally.16 Observers counted forty detainees.17\n"
        "16\n"
        "17\n"
        "\n"
        "https://example.org/arrests\n"
        "https://example.org/detainees\n"
        " The next page starts here and cites nothing.\n"
    )
    report = parse_text(text, "pair.txt")
    assert mapping(report) == {
        16: ["https://example.org/arrests"],
        17: ["https://example.org/detainees"],
    }


def test_semicolon_separated_pair_is_one_footnote() -> None:
    text = (
        "Officials signed the warnings.1 The ban was announced.2\n"
        "1\n"
        "\n"
        "https://example.org/warnings ; https://example.com/copy-of-warnings;\n"
        "https://example.org/ban.\n"
        "2\n"
    )
    report = parse_text(text, "semicolon.txt")
    assert mapping(report) == {
        1: ["https://example.org/warnings", "https://example.com/copy-of-warnings"],
        2: ["https://example.org/ban"],
    }


def test_marker_lost_by_the_extraction_is_recovered_from_the_block() -> None:
    # "balloons 7" has no punctuation before the space: not read as a marker in the body.
    text = (
        "Police stopped people.6 Children were frightened by balloons 7 and cried.\n"
        "6\n"
        "7\n"
        "https://example.org/stops\n"
        "https://example.org/children\n"
    )
    report = parse_text(text, "lost.txt")
    assert mapping(report) == {
        6: ["https://example.org/stops"],
        7: ["https://example.org/children"],
    }


def test_other_schemes_in_footnotes_are_kept_for_the_caller() -> None:
    text = "Write to the office.1\n1\nmailto:office@example.org\n"
    assert mapping(parse_text(text, "mail.txt")) == {1: ["mailto:office@example.org"]}


def test_url_wrapped_onto_the_next_line_is_joined() -> None:
    text = (
        "The decree was published.1\n"
        "1\n"
        "https://example.org/zakon/pravitelstvo_respubliki/natsionalnaya_bezopasnost/\n"
        "id-P1500001142/#z4\n"
    )
    assert mapping(parse_text(text, "wrapped.txt")) == {
        1: [
            "https://example.org/zakon/pravitelstvo_respubliki/natsionalnaya_bezopasnost/"
            "id-P1500001142/#z4"
        ]
    }


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="no footnote URLs found"):
        read_text(path)


def test_text_without_footnote_urls_is_an_error() -> None:
    text = "A report.1 It cites nothing online.\nSee https://example.org/inline for more.\n"
    with pytest.raises(InputError, match="no footnote URLs found"):
        parse_text(text, "plain.txt")


def test_bad_encoding_names_the_encoding_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Claim.1\nRésumé.2\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8") as caught:
        read_text(path)
    assert caught.value.line == 2
    assert "utf-8" in str(caught.value)


def test_urls_wrapped_over_several_lines_are_joined_in_order() -> None:
    """Tails are collected and joined once per URL; a whole URL on the next line is a URL of
    its own, not one more tail."""
    text = (
        "A claim.1 Another.2 A third.3\n\n"
        "1 https://example.org/a\n/b/c\n_d\n"
        "2 https://example.org/e\nhttps://example.org/f?g=\n"
        "3 https://example.org/h\n"
    )
    assert mapping(parse_text(text, "t")) == {
        1: ["https://example.org/a/b/c_d"],
        2: ["https://example.org/e"],
        3: ["https://example.org/f?g=", "https://example.org/h"],
    }
