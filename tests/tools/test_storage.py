"""Unusable cache storage (issue 5, README "Cache"): a directory or database that another user
owns or others can write, a read-only directory and a full file system. In each case kjit keeps
working with an in-memory cache, warns exactly once, and `kjit compile`/`kjit warm`, whose job
is to fill the disk cache, exit 1 saying the kernels were not saved.

Small file systems are real tmpfs mounts where this process may mount (root with CAP_SYS_ADMIN,
as in CI's container); elsewhere the full disk is simulated with RLIMIT_FSIZE (writes past the
limit fail with EFBIG, which SQLite reports as an I/O error) and read-only with chmod."""
import contextlib
import json
import os
import resource
import signal
import sqlite3
import subprocess

import pytest

from test_cli import GPT_OSS, KJIT

IS_ROOT = os.geteuid() == 0
NOBODY = 65534


def run_kjit(cache, *args, preexec_fn=None):
    env = dict(os.environ, KJIT_CACHE_DIR=str(cache))
    env.pop("KJIT_CACHE", None)
    return subprocess.run([KJIT, *args], capture_output=True, text=True, env=env, timeout=300,
                          preexec_fn=preexec_fn)


def warnings_in(stderr):
    return [line for line in stderr.splitlines() if line.startswith("[kjit] warning:")]


def assert_compiled_but_not_saved(result, reason):
    """The kernel was built and printed, one warning gave the reason, and the exit code is 1."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["origin"] == "compiled"
    warnings = warnings_in(result.stderr)
    assert len(warnings) == 1 and reason in warnings[0], result.stderr
    assert "kernels were compiled but not saved" in result.stderr
    print(f"warning: {warnings[0]}")


@contextlib.contextmanager
def tmpfs(path, size):
    """A real tmpfs of `size` at `path`, or None where this process may not mount one."""
    path.mkdir()
    mounted = IS_ROOT and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True).returncode == 0
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def test_directory_owned_by_another_user_is_refused(tmp_path):
    if IS_ROOT:
        cache = tmp_path / "theirs"
        cache.mkdir(mode=0o700)
        os.chown(cache, NOBODY, NOBODY)
        owner = NOBODY
    else:
        cache, owner = "/", 0  # root's, and an ordinary user cannot make one for someone else
    result = run_kjit(cache, "--json", *GPT_OSS)
    assert_compiled_but_not_saved(result, f"is owned by uid {owner}, not by this user")
    assert "KJIT_CACHE_DIR" in result.stderr  # how to fix it


def test_database_owned_or_writable_by_others_is_refused(tmp_path):
    cache = tmp_path / "cache"
    assert run_kjit(cache, *GPT_OSS).returncode == 0
    database = cache / "kernels.sqlite3"
    assert (database.stat().st_mode & 0o777) == 0o600 and (cache.stat().st_mode & 0o777) == 0o700
    database.chmod(0o666)
    result = run_kjit(cache, "--json", *GPT_OSS)
    assert_compiled_but_not_saved(result, "cache database")
    assert "writable by group or others" in result.stderr and "chmod 600" in result.stderr
    if IS_ROOT:
        database.chmod(0o600)
        os.chown(database, NOBODY, NOBODY)
        result = run_kjit(cache, "--json", *GPT_OSS)
        assert_compiled_but_not_saved(result, f"is owned by uid {NOBODY}")


@pytest.mark.parametrize("how", ["read-only mount", "chmod 500"])
def test_read_only_directory_falls_back_to_memory(tmp_path, how):
    with tmpfs(tmp_path / "mnt", "4m") as mount:
        if how == "read-only mount":
            if mount is None:
                pytest.skip("this process may not mount a tmpfs")
            cache = mount  # a read-only file system: not even root can write it
        else:
            if IS_ROOT:
                pytest.skip("root ignores directory permissions")
            cache = tmp_path / "cache"
        assert run_kjit(cache, *GPT_OSS).returncode == 0
        if how == "read-only mount":
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        else:
            cache.chmod(0o500)
        other = [*GPT_OSS[:5], "bf16", *GPT_OSS[6:]]  # a kernel not in the cache yet
        result = run_kjit(cache, "--json", *other)
        assert_compiled_but_not_saved(result, "is not writable")
        if how == "chmod 500":
            cache.chmod(0o700)


def ignore_sigxfsz_and_limit_files(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("how", ["tmpfs", "RLIMIT_FSIZE"])
def test_full_disk_warns_once_and_keeps_every_kernel(tmp_path, how):
    """`kjit warm` of 8 kernels onto a file system with room for about two: all 8 are compiled,
    one warning, exit 1, and what did get stored is intact."""
    with tmpfs(tmp_path / "mnt", "300k") as mount:
        if how == "tmpfs":
            if mount is None:
                pytest.skip("this process may not mount a tmpfs")
            cache, limit = mount / "cache", None
        else:
            cache, limit = tmp_path / "cache", ignore_sigxfsz_and_limit_files(300 * 1024)
        result = run_kjit(cache, "--json", "warm", "gpt-oss-20b", "--arch", "sm_90", "--jobs",
                          "2", preexec_fn=limit)
        assert result.returncode == 1, (result.stdout, result.stderr)
        report = json.loads(result.stdout)
        assert (report["compiled"], report["failed"]) == (8, 0), report
        assert "cannot write the kernel cache" in report["not_saved"]
        warnings = warnings_in(result.stderr)
        assert len(warnings) == 1 and "new kernels stay in memory" in warnings[0], result.stderr
        database = sqlite3.connect(cache / "kernels.sqlite3")
        assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = database.execute("SELECT COUNT(*) FROM kernels").fetchone()[0]
        database.close()
        assert stored < 8
        verify = run_kjit(cache, "--json", "verify")
        assert verify.returncode == 0 and json.loads(verify.stdout)["bad_entries"] == []
        print(f"full disk (300 KiB, {how}): 8 compiled, {stored} stored, 1 warning: {warnings[0]}")


@pytest.mark.parametrize("text, valid", [
    (b"e4m3", True), ("é".encode(), True), ("\U0001f680".encode(), True),
    (b"\xff", False), (b"\xc0\x80", False),           # never valid; overlong NUL
    (b"\xed\xa0\x80", False), (b"\xe2\x82", False),   # a surrogate; truncated
    (b"\xf4\x90\x80\x80", False), (b"ok\x80", False)  # past U+10FFFF; a lone continuation
])
def test_match_must_be_utf8(tmp_path, text, valid):
    for command in (["list"], ["clear"], ["prune"], ["export", str(tmp_path / "b.kjit")]):
        result = subprocess.run(
            [KJIT.encode(), b"--json", *[c.encode() for c in command], b"--match", text],
            capture_output=True, env=dict(os.environ, KJIT_CACHE_DIR=str(tmp_path / "c")))
        assert result.returncode == (0 if valid else 2), (command, text, result.stderr)
        if not valid:
            assert b"not UTF-8 text" in result.stderr
        (tmp_path / "b.kjit").unlink(missing_ok=True)
