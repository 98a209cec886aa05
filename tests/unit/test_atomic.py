"""Atomic writes: a failed write leaves the old file whole and no temporary file behind."""

import os
import stat

import pytest

from benchmark.util.atomic import write_atomic, write_json_atomic


def test_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "record.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert os.listdir(target.parent) == ["record.json"]


def test_files_are_readable_by_others_as_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "record.json"
    write_json_atomic(target, {"ok": True})
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # fails inside the write, after the temporary file was opened
    assert target.read_text() == '{\n  "ok": true\n}\n'
    assert os.listdir(tmp_path) == ["record.json"]
