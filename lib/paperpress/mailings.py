"""arXiv's announcement calendar: which dates have a mailing, what each one covers, which is the latest.

What arXiv does, as documented (looked up, not guessed):

- **Schedule.** "Submissions received between Monday 14:00 – Tuesday 14:00 [US Eastern] will be announced
  Tuesday 20:00", … "Thursday 14:00 – Friday 14:00: Sunday 20:00", "Friday 14:00 – Monday 14:00: Monday
  20:00"; "no announcements Friday or Saturday" (https://info.arxiv.org/help/availability.html, source
  github.com/arXiv/arxiv-docs source/help/availability.md). arXiv's own scheduler has the same table in
  the zone US/Eastern (github.com/arXiv/arxiv-submission-core, core/arxiv/submission/schedule.py,
  WINDOWS), so daylight-saving time moves the deadline between 18:00 and 19:00 GMT and the announcement
  between 00:00 and 01:00 GMT: the times here are computed in America/New_York with zoneinfo.
- **Holidays.** The same page lists each year's days without a mailing ("On Deferred Mailings"); our
  copy is data/holidays.yml (update it yearly). On such a day there is neither the deadline nor the
  announcement; its submissions go out with the next mailing. arXiv's news page spells it out
  (arxiv-docs source/new/index.md), e.g. Thanksgiving 2019: "Articles received at or after 14:00 ET
  Wednesday, 27 November 2019 and before 14:00 ET Friday, 29 November 2019 will be announced at 20:00
  ET Sunday, 1 December 2019"; a Friday off cancels the Sunday mailing (Christmas 2020: "Papers
  submitted after 14:00 Eastern on Thursday 24 December and before 14:00 Eastern on Monday 28
  December will be announced at 20:00 Eastern on Monday 28 December"). The list sometimes names
  that Sunday instead of the Friday ("Sunday 6 July" 2025): the same thing.
- **The date of a mailing.** arXiv dates a mailing by the day after its 20:00 Eastern announcement
  (which is also the GMT date of the announcement). /list/<cat>/new heads it "Showing new listings
  for Friday, 23 February 2024" for the Thursday-evening mailing (arxiv-browse
  browse/templates/list/new.html, `announced` = arXiv_updates.date of the mailing); the RSS feed
  (rss.arxiv.org, rebuilt at midnight Eastern, https://info.arxiv.org/help/rss.html) gives the channel
  <pubDate> "Announcement date for the content in the channel", e.g. "Fri, 23 Feb 2024 00:00:00 -0500",
  with <skipDays> Saturday and Sunday, and marks each item "Announce Type: new|cross|replace…"
  (https://info.arxiv.org/help/rss_specifications.html; arxiv-feed feed/utils.py get_arxiv_midnight,
  feed/serializers/serializer.py). So mailings are dated Monday to Friday, and a post's date is that date.
- **The API.** `submittedDate:[YYYYMMDDTTTT TO YYYYMMDDTTTT]` in GMT to the minute (API user manual,
  https://info.arxiv.org/help/api/user-manual.html §5.1); it is the first version's submission time,
  and <published> is "the date that version 1 of the article was submitted", <updated> that of the
  retrieved version (§5.2). A paper reaches the API only after its announcement, sometimes hours later
  ("sometimes they are on time, sometimes a couple hours late, sometimes a couple days late",
  scirate/scirate#514; "the API doesn't update until the next day", scirate/scirate#515), and papers
  on hold are announced days later with their original submission time: hence the look-back.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from zoneinfo import ZoneInfo

from .config import read_data, read_now

ET = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
DEADLINE = dt.time(14, 0)  # US Eastern, Monday to Friday
ANNOUNCEMENT = dt.time(20, 0)  # US Eastern, Sunday to Thursday
MAX_GAP_DAYS = 31  # no search for a deadline walks further (arXiv never pauses that long)


@dataclass(frozen=True, order=True)
class Mailing:
    """One arXiv mailing: its date, the submissions it covers [start, end) and when it is announced (UTC)."""

    listed: dt.date  # the date arXiv gives it (/list/<cat>/new, the RSS pubDate): a post's date
    start: dt.datetime  # the previous deadline (inclusive)
    end: dt.datetime  # its own deadline (exclusive)
    announced: dt.datetime  # 20:00 US Eastern of the announcement day


@functools.cache
def load_holidays() -> dict[int, frozenset[dt.date]]:
    """arXiv's published holidays per year (data/holidays.yml)."""
    years = read_data("holidays.yml")["years"]
    return {int(year): frozenset(days) for year, days in years.items()}


def holidays_known(year: int) -> bool:
    """Whether data/holidays.yml has arXiv's holidays for this year."""
    return year in load_holidays()


HOLIDAYS_AHEAD_DAYS = 60  # from this many days before New Year, next year's holidays are wanted too


def missing_holiday_years(today: dt.date) -> list[int]:
    """Years data/holidays.yml should have by `today` but lacks: this one, and the next within 60 days of it."""
    coming = today.year + 1
    wanted = [today.year] + ([coming] if (dt.date(coming, 1, 1) - today).days <= HOLIDAYS_AHEAD_DAYS else [])
    return [year for year in wanted if not holidays_known(year)]


def is_holiday(day: dt.date) -> bool:
    """Whether arXiv lists this day as a holiday (no deadline, no announcement)."""
    return day in load_holidays().get(day.year, frozenset())


def has_deadline(day: dt.date) -> bool:
    """Whether submissions close at 14:00 Eastern on this day: a weekday that is no arXiv holiday.

    A Friday's deadline feeds the Sunday mailing, so a holiday on either day cancels it.
    """
    if day.weekday() >= 5 or is_holiday(day):
        return False
    return not (day.weekday() == 4 and is_holiday(day + dt.timedelta(days=2)))


def at_eastern(day: dt.date, time: dt.time) -> dt.datetime:
    """A wall-clock time in US Eastern on a day, as UTC (daylight-saving time included)."""
    return dt.datetime.combine(day, time, tzinfo=ET).astimezone(UTC)


def announcement_day(deadline_day: dt.date) -> dt.date:
    """The day a deadline's submissions are announced: the same day, or Sunday for a Friday deadline."""
    return deadline_day + dt.timedelta(days=2 if deadline_day.weekday() == 4 else 0)


def previous_deadline_day(day: dt.date) -> dt.date:
    """The last day before `day` with a deadline."""
    for back in range(1, MAX_GAP_DAYS + 1):
        earlier = day - dt.timedelta(days=back)
        if has_deadline(earlier):
            return earlier
    raise ValueError(f"no arXiv deadline in the {MAX_GAP_DAYS} days before {day}")


def next_deadline_day(day: dt.date) -> dt.date:
    """The first day from `day` on (inclusive) with a deadline."""
    for ahead in range(MAX_GAP_DAYS + 1):
        later = day + dt.timedelta(days=ahead)
        if has_deadline(later):
            return later
    raise ValueError(f"no arXiv deadline in the {MAX_GAP_DAYS} days after {day}")


def mailing_of_deadline(deadline_day: dt.date) -> Mailing:
    """The mailing whose submissions close on this deadline day."""
    announced = announcement_day(deadline_day)
    return Mailing(
        listed=announced + dt.timedelta(days=1),
        start=at_eastern(previous_deadline_day(deadline_day), DEADLINE),
        end=at_eastern(deadline_day, DEADLINE),
        announced=at_eastern(announced, ANNOUNCEMENT),
    )


def deadline_day_listed_on(listed: dt.date) -> dt.date | None:
    """The deadline day of the mailing arXiv would date `listed` (Monday: the Friday before), if any."""
    weekday = listed.weekday()
    if weekday >= 5:
        return None
    return listed - dt.timedelta(days=3 if weekday == 0 else 1)


def mailing_on(listed: dt.date) -> Mailing | None:
    """The mailing arXiv dates `listed`, or None on a day without one (weekends, holidays)."""
    deadline_day = deadline_day_listed_on(listed)
    if deadline_day is None or not has_deadline(deadline_day):
        return None
    return mailing_of_deadline(deadline_day)


def mailing_for_submission(submitted: dt.datetime) -> Mailing:
    """The mailing that announces a submission made at this (aware) time, if it is not held."""
    day = submitted.astimezone(ET).date()
    if has_deadline(day) and submitted < at_eastern(day, DEADLINE):
        return mailing_of_deadline(day)
    return mailing_of_deadline(next_deadline_day(day + dt.timedelta(days=1)))


def latest_mailing(now: dt.datetime | None = None) -> Mailing:
    """The newest mailing already announced at `now` (default: read_now())."""
    now = now or read_now()
    day = now.astimezone(ET).date()
    for back in range(MAX_GAP_DAYS + 3):
        candidate = day - dt.timedelta(days=back)
        if has_deadline(candidate):
            mailing = mailing_of_deadline(candidate)
            if mailing.announced <= now:
                return mailing
    raise ValueError(f"no arXiv mailing announced in the {MAX_GAP_DAYS} days before {now:%Y-%m-%d}")


def mailings_after(last: dt.date | None, now: dt.datetime | None = None) -> list[Mailing]:
    """Mailings dated after `last` and announced by `now`, oldest first; with no `last`, the latest only."""
    newest = latest_mailing(now)
    if last is None:
        return [newest]
    found = []
    mailing = newest
    while mailing.listed > last:
        found.append(mailing)
        mailing = mailing_of_deadline(previous_deadline_day(mailing.end.astimezone(ET).date()))
    return found[::-1]


def mailings_listed(first: dt.date, last: dt.date) -> list[Mailing]:
    """Every mailing dated from `first` to `last` (inclusive), oldest first."""
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [m for m in map(mailing_on, days) if m is not None]


def explain_no_mailing(day: dt.date) -> str:
    """Why arXiv has no mailing dated `day` (a weekend or which holiday)."""
    if day.weekday() >= 5:
        return f"{day:%A} {day}: arXiv dates its mailings Monday to Friday"
    deadline_day = deadline_day_listed_on(day)
    off = sorted({d for d in (deadline_day, deadline_day + dt.timedelta(days=2)) if is_holiday(d)})
    return f"{day:%a} {day}: arXiv holiday on {', '.join(f'{d:%a} {d}' for d in off)} (no deadline, no announcement)"


def warn_unknown_year(day: dt.date) -> str:
    """A warning when the holiday table lacks this year ('' when it has it)."""
    if holidays_known(day.year):
        return ""
    return (f"arXiv's holidays for {day.year} are not in paperpress/data/holidays.yml: "
            f"the weekday rule alone dates the mailings (add them from https://info.arxiv.org/help/availability.html)")


def query_window(mailing: Mailing, lookback_days: int) -> tuple[dt.datetime, dt.datetime]:
    """Submission times a post asks arXiv for: the mailing's window and the `lookback_days` before it.

    The look-back finds what arXiv announced late (holds, API lag); de-duplication against earlier posts
    keeps only what none of them has. A topic's first post looks back too: those papers were in no post.
    """
    return mailing.start - dt.timedelta(days=lookback_days), mailing.end
