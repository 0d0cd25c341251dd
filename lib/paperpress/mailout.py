"""Which mailings go to whom, and the record of what the server acknowledged: nothing sent twice, nothing forgotten.

posts/_mailings/<slug>.sent.json (beside the mailing records, committed with the posts) holds, per
recipient (a hash of the address, never the address), the first mailing they were to get, and per mailing
the recipients the server acknowledged. A message the server did not acknowledge is not recorded, so the
next run sends it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import mail, smtp
from .archive import MAILINGS, read_digest
from .config import PLACEHOLDER_SITE_URL, MailSettings, PaperpressError, Settings, Topic, read_now
from .publish import EXIT_MAIL, EXIT_OK
from .site import read_config
from .topicpages import PostRef, scan_posts


def records_path(posts_dir: str | Path, slug: str) -> Path:
    """Where a topic's send records live: beside its mailing record (slugs hold no dot)."""
    return Path(posts_dir) / MAILINGS / f"{slug}.sent.json"


def read_records(posts_dir: str | Path, slug: str) -> dict:
    """A topic's send records ({'since': {key: date}, 'sent': {date: [keys]}}); empty when there are none."""
    path = records_path(posts_dir, slug)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"since": {}, "sent": {}}
    except (OSError, ValueError) as exc:
        raise PaperpressError(f"{path}: unreadable send records ({type(exc).__name__}); fix or remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("since"), dict) or not isinstance(data.get("sent"), dict):
        raise PaperpressError(f"{path}: unreadable send records (expected 'since' and 'sent' mappings)")
    return data


def write_records(posts_dir: str | Path, slug: str, records: dict) -> None:
    """Write the records atomically (sorted: the same sends give the same bytes)."""
    path = records_path(posts_dir, slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {"since": dict(sorted(records["since"].items())),
             "sent": {date: sorted(set(keys)) for date, keys in sorted(records["sent"].items())}}
    path.with_suffix(".tmp").write_text(json.dumps(clean, indent=1) + "\n", encoding="utf-8")
    path.with_suffix(".tmp").replace(path)


def find_site_url(settings: Settings, root: str | Path = ".") -> str:
    """The published site's address (PAPERPRESS_SITE_URL, else _quarto.yml's site-url); refused while a placeholder."""
    url = (settings.site_url or read_config(Path(root)).get("site-url", "")).strip().rstrip("/")
    if not url or url == PLACEHOLDER_SITE_URL:
        raise PaperpressError("mail needs the site's address for its links: set PAPERPRESS_SITE_URL (or site-url in "
                              "_quarto.yml; it is still the placeholder)")
    if not url.startswith(("https://", "http://")):
        raise PaperpressError(f"the site's address must be an http(s) URL (got '{url}')")
    return url


def plan_sends(posts: list[PostRef], recipients: tuple[str, ...], records: dict, date: str = "") -> list[tuple[PostRef, str]]:
    """(post, recipient) pairs not acknowledged yet, oldest mailing first.

    With a date: that mailing. Otherwise each mailing since the recipient's first (recorded the first time:
    the latest mailing then, never the archive).
    """
    if not posts:
        return []
    latest = posts[0].date
    plan = []
    for ref in sorted(posts, key=lambda r: r.date):
        for recipient in recipients:
            key = mail.recipient_key(recipient)
            since = records["since"].get(key, latest)
            wanted = ref.date == date if date else ref.date >= since
            if wanted and key not in records["sent"].get(ref.date, []):
                plan.append((ref, recipient))
    return plan


def mail_topic(topic: Topic, settings: Settings, mail_settings: MailSettings, posts_dir: str = "posts",
               date: str = "", dry_run: bool = False, out_dir: str = ".paperpress/mail", root: str = ".") -> int:
    """`paperpress mail` for one topic: send (or, dry, write as .eml files) each mailing a recipient has not had."""
    recipients = mail_settings.recipients(topic.slug)
    if not recipients:
        raise PaperpressError(f"no recipients for {topic.slug}: set PAPERPRESS_MAIL_TO_"
                              f"{topic.slug.upper().replace('-', '_')} or PAPERPRESS_MAIL_TO (comma-separated)")
    if not dry_run and not mail_settings.host:
        raise PaperpressError("no mail server: set SMTP_HOST (and SMTP_FROM, SMTP_PORT, SMTP_TLS, SMTP_USER, "
                              "SMTP_PASSWORD), or use --dry-run")
    site_url = find_site_url(settings, root)
    posts = scan_posts(posts_dir).get(topic.slug, [])
    if date and not any(ref.date == date for ref in posts):
        raise PaperpressError(f"{posts_dir}: no post of {topic.slug} for the mailing of {date} "
                              "(an empty mailing has none, and sends nothing)")
    from filelock import FileLock

    locks = Path(posts_dir).parent / ".paperpress" / "locks"  # the work folder beside posts/, never published
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"mail-{topic.slug}.lock")):  # a second `mail` at once waits, then finds it all sent
        return send_planned(topic, mail_settings, posts_dir, posts, recipients, site_url, date, dry_run, out_dir)


def send_planned(topic: Topic, mail_settings: MailSettings, posts_dir: str, posts: list[PostRef],
                 recipients: tuple[str, ...], site_url: str, date: str, dry_run: bool, out_dir: str) -> int:
    """Plan against the records, then send (recording each acknowledgement at once) or write the drafts."""
    records = read_records(posts_dir, topic.slug)
    planned = plan_sends(posts, recipients, records, date)
    digests = {ref.folder: read_digest(Path(posts_dir) / ref.folder) for ref in {ref for ref, _ in planned}}
    plan = [(ref, r) for ref, r in planned
            if digests[ref.folder].entries or digests[ref.folder].listed]  # an empty mailing sends nothing
    if not plan:
        print(f"paperpress: mail for {topic.slug}: nothing new to send")
        return EXIT_OK
    sender = mail_settings.sender or "paperpress <paperpress@localhost>"
    now = read_now()
    outgoing = [smtp.Outgoing((ref.date, r), r, mail.build_message(digests[ref.folder], ref.folder, r, sender,
                                                                   site_url, now)) for ref, r in plan]
    if dry_run:
        return write_drafts(topic.slug, outgoing, Path(out_dir))
    new = [mail.recipient_key(r) for r in recipients if mail.recipient_key(r) not in records["since"]]
    if new:  # a recipient's first time: from the latest mailing on, never the archive
        records["since"].update({key: posts[0].date for key in new})
        write_records(posts_dir, topic.slug, records)

    def acknowledged(item: smtp.Outgoing) -> None:
        records["sent"].setdefault(item.key[0], []).append(mail.recipient_key(item.recipient))
        write_records(posts_dir, topic.slug, records)  # at once: a crash later never sends it twice

    failed = smtp.send_all(mail_settings, outgoing, acknowledged)
    sent = len(outgoing) - len(failed)
    mailings = sorted({item.key[0] for item in outgoing})
    print(f"paperpress: mail for {topic.slug}: {sent} of {len(outgoing)} messages sent ({', '.join(mailings)})")
    if failed:
        item, why = failed[0]
        print(f"paperpress: error: mail for {topic.slug}: {len(failed)} of {len(outgoing)} messages not sent "
              f"(first: {item.key[0]}: {why}); the next run sends them", file=sys.stderr)
        return EXIT_MAIL
    return EXIT_OK


def write_drafts(slug: str, outgoing: list[smtp.Outgoing], out_dir: Path) -> int:
    """--dry-run: each message as an .eml file (nothing sent, nothing recorded)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in outgoing:
        path = out_dir / f"{slug}-{item.key[0]}-{mail.recipient_key(item.recipient)}.eml"
        path.write_bytes(item.message.as_bytes())
        print(f"paperpress: wrote {path} (to {item.recipient})")
    return EXIT_OK

