"""Publishing a folder: a rerun replaces the post, a kill never leaves neither post nor a mix, one build at a time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from paperpress import publish

from .helpers import tree_bytes


def make_folder(path: Path, version: str) -> Path:
    """A post-like folder whose every file says which version it is."""
    (path / "charts").mkdir(parents=True)
    for name in ("index.ipynb", "digest.json", "charts/keywords.png"):
        (path / name).write_text(f"{version} {name}", encoding="utf-8")
    return path


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (a process that can be killed without taking pytest with it)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_publish_replaces_an_older_post(tmp_path):
    final = tmp_path / "posts" / "2024-04-01-t"
    final.parent.mkdir()
    publish.publish_folder(make_folder(tmp_path / "s1", "old"), final)
    (final / "stale.txt").write_text("only in the old post")
    publish.publish_folder(make_folder(tmp_path / "s2", "new"), final)
    assert tree_bytes(final) == tree_bytes(make_folder(tmp_path / "expected", "new"))  # all new, nothing old
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]  # no folder set aside
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()


KILL_ON_RENAME = """
    import os, sys
    from pathlib import Path
    from paperpress import publish

    rename = Path.rename
    def killed_after(self, target):  # the process dies right after moving the old post aside
        done = rename(self, target)
        if Path(target).name.endswith(".old"):
            os._exit(9)
        return done
    Path.rename = killed_after
    if sys.argv[3] == "fallback":
        publish.exchange_folders = lambda a, b: False  # a system without renameat2: two renames
    publish.publish_folder(Path(sys.argv[1]), Path(sys.argv[2]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the one-step swap is Linux's renameat2")
def test_kill_during_publish_leaves_the_old_or_the_new_post_on_linux(tmp_path):
    final = make_folder(tmp_path / "posts" / "p", "old")
    staging = make_folder(tmp_path / "staging", "new")
    done = run_python(KILL_ON_RENAME, str(staging), str(final), "swap")
    assert done.returncode == 0, done.stderr  # no moment without a post: nothing was moved aside
    assert tree_bytes(final) == tree_bytes(make_folder(tmp_path / "expected", "new"))
    # a kill right after the swap, before the old folder is removed: the new post is in place, whole
    final2, staging2 = make_folder(tmp_path / "posts" / "q", "old"), make_folder(tmp_path / "staging2", "new")
    killed = run_python("""
        import os, shutil, sys
        from pathlib import Path
        from paperpress import publish
        remove = shutil.rmtree
        shutil.rmtree = lambda path, *a, **k: os._exit(9) if Path(path) == Path(sys.argv[1]) else remove(path, *a, **k)
        publish.publish_folder(Path(sys.argv[1]), Path(sys.argv[2]))
    """, str(staging2), str(final2))
    assert killed.returncode == 9
    assert tree_bytes(final2) == tree_bytes(make_folder(tmp_path / "expected2", "new"))
    assert tree_bytes(staging2) == tree_bytes(make_folder(tmp_path / "expected3", "old"))  # whole, cleaned next run


def test_kill_between_the_two_renames_keeps_the_old_post_and_the_next_publish_restores_it(tmp_path):
    final = make_folder(tmp_path / "posts" / "p", "old")
    staging = make_folder(tmp_path / "staging", "new")
    killed = run_python(KILL_ON_RENAME, str(staging), str(final), "fallback")
    assert killed.returncode == 9, killed.stderr  # it died between the renames
    aside = publish.aside_name(final)
    assert not final.exists() and tree_bytes(aside) == tree_bytes(make_folder(tmp_path / "old", "old"))
    # The next publish puts the old post back before anything else: one whose new folder then fails to move
    # in (here: it is missing) leaves the old post in place, not nothing.
    with pytest.raises(OSError):
        publish.publish_folder(tmp_path / "missing-staging", final)
    kept = final if final.exists() else aside  # in place (one-step swap), or aside again (the two renames)
    assert tree_bytes(kept) == tree_bytes(tmp_path / "old") and not (final.exists() and aside.exists())
    # killed again, then a publish that itself goes through: the new post, nothing left aside
    assert run_python(KILL_ON_RENAME, str(staging), str(final), "fallback").returncode == 9
    publish.publish_folder(make_folder(tmp_path / "staging3", "newer"), final)
    assert tree_bytes(final) == tree_bytes(make_folder(tmp_path / "newer", "newer"))
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]


LOCKED_BUILD = """
    import sys, time
    from pathlib import Path
    from paperpress import publish

    work, who, log, other = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    def note(line):
        with log.open("a") as f:
            f.write(line + "\\n")
    note(f"{who} ready")
    with publish.staging_folder(work, "2024-04-01-t") as staging:
        note(f"{who} in")
        (staging / f"{who}.txt").write_text(who)
        deadline = time.monotonic() + 20
        while other and f"{other} ready" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)  # stay inside until the other build is about to enter
        time.sleep(0.5 if other else 0)
        intact = sorted(p.name for p in staging.iterdir()) == [f"{who}.txt"]
        note(f"{who} out {'intact' if intact else 'clobbered'}")
"""


def test_two_builds_of_one_post_take_turns(tmp_path):
    log = tmp_path / "log.txt"
    log.touch()
    first = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LOCKED_BUILD), str(tmp_path), "A", str(log), "B"])
    deadline = time.monotonic() + 30
    while "A in" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = run_python(LOCKED_BUILD, str(tmp_path), "B", str(log), "")
    assert first.wait(timeout=30) == 0 and second.returncode == 0, second.stderr
    assert log.read_text().splitlines() == ["A ready", "A in", "B ready", "A out intact", "B in", "B out intact"]
