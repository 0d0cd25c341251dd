"""arXiv's calendar: mailing dates, submission windows in GMT across daylight-saving changes, holidays, "now"."""

import datetime as dt

import pytest

from paperpress import mailings
from paperpress.config import PaperpressError, parse_date, read_now


def utc(text: str) -> dt.datetime:
    """An aware UTC time from 'YYYY-MM-DD HH:MM'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def window(listed: str) -> tuple[str, str, str]:
    """(start, end, announced) of the mailing dated `listed`, as 'YYYY-MM-DD HH:MM' GMT."""
    m = mailings.mailing_on(dt.date.fromisoformat(listed))
    assert m is not None, f"no mailing on {listed}"
    return tuple(t.strftime("%Y-%m-%d %H:%M") for t in (m.start, m.end, m.announced))


def test_a_week_of_mailings_in_winter_time():
    # Mon 2026-02-09 … Fri 02-13 (EST: 14:00 = 19:00 GMT, 20:00 = 01:00 GMT the next day).
    assert window("2026-02-10") == ("2026-02-06 19:00", "2026-02-09 19:00", "2026-02-10 01:00")  # Fri–Mon
    assert window("2026-02-11") == ("2026-02-09 19:00", "2026-02-10 19:00", "2026-02-11 01:00")
    assert window("2026-02-13") == ("2026-02-11 19:00", "2026-02-12 19:00", "2026-02-13 01:00")
    assert window("2026-02-16") == ("2026-02-12 19:00", "2026-02-13 19:00", "2026-02-16 01:00")  # Thu–Fri, Sunday
    assert mailings.mailing_on(dt.date(2026, 2, 14)) is None and mailings.mailing_on(dt.date(2026, 2, 15)) is None


def test_the_week_clocks_spring_forward():
    # US daylight-saving time starts Sunday 2026-03-08: Friday's deadline is 19:00 GMT, Monday's 18:00.
    assert window("2026-03-09") == ("2026-03-05 19:00", "2026-03-06 19:00", "2026-03-09 00:00")
    assert window("2026-03-10") == ("2026-03-06 19:00", "2026-03-09 18:00", "2026-03-10 00:00")
    m = mailings.mailing_on(dt.date(2026, 3, 10))
    assert m.end - m.start == dt.timedelta(hours=71)


def test_the_week_clocks_fall_back():
    # Daylight-saving time ends Sunday 2026-11-01: the Friday-to-Monday window is 73 hours long.
    assert window("2026-11-02") == ("2026-10-29 18:00", "2026-10-30 18:00", "2026-11-02 01:00")
    assert window("2026-11-03") == ("2026-10-30 18:00", "2026-11-02 19:00", "2026-11-03 01:00")


def test_thanksgiving_has_no_mailing_and_sunday_takes_two_days():
    assert mailings.mailing_on(dt.date(2026, 11, 27)) is None  # no Thursday-evening announcement
    assert window("2026-11-30") == ("2026-11-25 19:00", "2026-11-27 19:00", "2026-11-30 01:00")
    assert "holiday on Thu 2026-11-26" in mailings.explain_no_mailing(dt.date(2026, 11, 27))


def test_a_friday_or_sunday_holiday_cancels_the_sunday_mailing():
    assert mailings.mailing_on(dt.date(2026, 7, 6)) is None  # Friday 2026-07-03 off
    assert window("2026-07-07") == ("2026-07-02 18:00", "2026-07-06 18:00", "2026-07-07 00:00")
    assert mailings.mailing_on(dt.date(2025, 7, 7)) is None  # arXiv listed "Sunday 6 July" 2025
    assert window("2025-07-08") == ("2025-07-03 18:00", "2025-07-07 18:00", "2025-07-08 00:00")


def test_christmas_2026():
    # Holidays Fri 25, Tue 29, Thu 31 December.
    assert [m.listed.isoformat() for m in mailings.mailings_listed(dt.date(2026, 12, 21), dt.date(2027, 1, 1))] == [
        "2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24", "2026-12-25", "2026-12-29", "2026-12-31"]
    assert window("2026-12-29") == ("2026-12-24 19:00", "2026-12-28 19:00", "2026-12-29 01:00")
    assert window("2026-12-31") == ("2026-12-28 19:00", "2026-12-30 19:00", "2026-12-31 01:00")


@pytest.mark.parametrize("holiday, listed, announced_et, start_et, end_et", [
    # arXiv's own notices (arxiv-docs source/new/index.md), with the holiday added to the table.
    ("2019-11-28", "2019-12-02", "2019-12-01 20:00", "2019-11-27 14:00", "2019-11-29 14:00"),  # Thanksgiving 2019
    ("2020-12-25", "2020-12-29", "2020-12-28 20:00", "2020-12-24 14:00", "2020-12-28 14:00"),  # Christmas 2020
    ("2020-01-20", "2020-01-22", "2020-01-21 20:00", "2020-01-17 14:00", "2020-01-21 14:00"),  # MLK day 2020
])
def test_holiday_notices_of_arxiv(monkeypatch, holiday, listed, announced_et, start_et, end_et):
    day = dt.date.fromisoformat(holiday)
    monkeypatch.setattr(mailings, "load_holidays", lambda: {day.year: frozenset({day})})
    m = mailings.mailing_on(dt.date.fromisoformat(listed))
    as_et = [t.astimezone(mailings.ET).strftime("%Y-%m-%d %H:%M") for t in (m.announced, m.start, m.end)]
    assert as_et == [announced_et, start_et, end_et]


def test_windows_tile_time_and_every_submission_finds_its_mailing():
    found = mailings.mailings_listed(dt.date(2023, 1, 1), dt.date(2026, 12, 31))
    assert len(found) > 4 * 240
    for earlier, later in zip(found, found[1:]):
        assert later.start == earlier.end  # no gap, no overlap: a submission is in exactly one window
        assert later.listed.weekday() < 5 and later.listed == later.announced.date()
        assert later.end < later.announced
        assert mailings.mailing_for_submission(later.start) == later
        assert mailings.mailing_for_submission(later.end - dt.timedelta(seconds=1)) == later


def test_mailing_for_a_submission_around_the_deadline():
    friday = utc("2026-02-13 18:59")  # 13:59 EST
    assert mailings.mailing_for_submission(friday).listed == dt.date(2026, 2, 16)
    assert mailings.mailing_for_submission(utc("2026-02-13 19:00")).listed == dt.date(2026, 2, 17)
    assert mailings.mailing_for_submission(utc("2026-02-14 12:00")).listed == dt.date(2026, 2, 17)


def test_latest_mailing_follows_the_announcement_not_the_date():
    assert mailings.latest_mailing(utc("2026-03-08 23:59")).listed == dt.date(2026, 3, 6)
    assert mailings.latest_mailing(utc("2026-03-09 00:00")).listed == dt.date(2026, 3, 9)  # Sun 20:00 EDT
    assert mailings.latest_mailing(utc("2026-02-11 00:30")).listed == dt.date(2026, 2, 10)  # 19:30 EST: not yet
    assert mailings.latest_mailing(utc("2026-02-11 01:00")).listed == dt.date(2026, 2, 11)


def test_mailings_after_the_last_post():
    now = utc("2026-03-10 03:30")
    assert [m.listed.isoformat() for m in mailings.mailings_after(dt.date(2026, 3, 5), now)] == [
        "2026-03-06", "2026-03-09", "2026-03-10"]
    assert mailings.mailings_after(dt.date(2026, 3, 10), now) == []
    assert [m.listed for m in mailings.mailings_after(None, now)] == [dt.date(2026, 3, 10)]


def test_query_window_looks_back():
    m = mailings.mailing_on(dt.date(2026, 3, 10))
    assert mailings.query_window(m, 7) == (m.start - dt.timedelta(days=7), m.end)
    assert mailings.query_window(m, 0) == (m.start, m.end)


def test_a_year_without_a_holiday_table_uses_the_weekday_rule_and_says_so():
    assert mailings.warn_unknown_year(dt.date(2026, 5, 1)) == ""
    assert "2031" in mailings.warn_unknown_year(dt.date(2031, 1, 1))
    assert mailings.mailing_on(dt.date(2031, 1, 1)) is not None  # New Year's Day: unknown, so a weekday


def test_now_comes_from_the_environment():
    assert read_now({"PAPERPRESS_NOW": "2026-03-09T01:00:00Z"}) == utc("2026-03-09 01:00")
    assert read_now({"PAPERPRESS_NOW": "2026-03-08T21:00:00-04:00"}) == utc("2026-03-09 01:00")
    with pytest.raises(PaperpressError, match="PAPERPRESS_NOW"):
        read_now({"PAPERPRESS_NOW": "2026-03-09 01:00"})  # no zone: ambiguous
    assert abs(read_now({}) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=5)


def test_future_dates_follow_now(monkeypatch):
    monkeypatch.setenv("PAPERPRESS_NOW", "2026-03-09T01:00:00Z")
    assert parse_date("2026-03-09") == dt.date(2026, 3, 9)
    with pytest.raises(PaperpressError, match="future"):
        parse_date("2026-03-10")
