"""16 processes started together, each asking for the same 4 missing kernels 25 times: every
process gets every kernel, they are compiled 4 times in all, and the database stays intact."""
import collections
import os
import sqlite3
import subprocess

HELPER = os.environ.get("KJIT_RACE_HELPER", "build/tests/kjit_race_helper")
PROCESSES, ROUNDS, KERNELS = 16, 25, 4


def test_sixteen_processes_compile_each_kernel_once(tmp_path):
    env = dict(os.environ, KJIT_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("KJIT_CACHE", None)
    children = [subprocess.Popen([HELPER, str(ROUNDS)], stdout=subprocess.PIPE, text=True,
                                 env=env) for _ in range(PROCESSES)]
    outputs = [child.communicate(timeout=600)[0] for child in children]
    assert all(child.returncode == 0 for child in children)
    origins = collections.Counter()
    keys = set()
    for output in outputs:
        lines = output.split()
        rows = list(zip(lines[0::2], lines[1::2]))
        assert len(rows) == ROUNDS * KERNELS  # every request answered
        assert len({key for _, key in rows}) == KERNELS
        for origin, key in rows:
            origins[origin] += 1
            keys.add(key)
    print(f"{PROCESSES} processes x {ROUNDS} rounds x {KERNELS} kernels: {dict(origins)}")
    assert len(keys) == KERNELS
    assert origins["compiled"] == KERNELS
    db = sqlite3.connect(tmp_path / "cache" / "kernels.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM kernels").fetchone()[0] == KERNELS
