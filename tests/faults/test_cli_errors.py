"""One error style: user errors exit 2 with one 'prog: error: ...' line, programming errors keep their traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from mmfusion.cli_errors import cli_errors, cli_main, describe_os_error, run_command
from mmfusion.errors import CheckpointError, DataFormatError, LockError


@pytest.mark.parametrize(("exc", "needle"), [
    (DataFormatError("x.skeleton", "bad count", line=3), "x.skeleton:3: bad count"),
    (CheckpointError("ckpt/optimizer.bin: corrupt"), "ckpt/optimizer.bin: corrupt"),
    (LockError("run is being written"), "run is being written"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/out"), "/ro/out: read-only file system"),
    (OSError(errno.ENOSPC, "No space left on device", "/full/x.bin"), "/full/x.bin: no space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: permission denied"),
])
def test_user_errors_exit_2_with_one_line(exc: BaseException, needle: str, capsys: pytest.CaptureFixture) -> None:
    @cli_main("mmfusion")
    def main() -> int:
        raise exc

    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and err == f"mmfusion: error: {needle}\n"


def test_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "out"
    f.write_text("a file, not a folder")
    with pytest.raises(SystemExit) as info, cli_errors("prepare"):
        (f / "shards").mkdir(parents=True)
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith(f"prepare: error: {f / 'shards'}")
    assert f.read_text() == "a file, not a folder"


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root ignores permissions")
def test_read_only_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(SystemExit), cli_errors():
            (ro / "x").write_text("y")
        assert "permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


def test_programming_errors_keep_their_traceback() -> None:
    @cli_main()
    def main() -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        main()


def test_success_returns_the_code() -> None:
    assert cli_main()(lambda: 0)() == 0


def test_run_command_returns_instead_of_exiting(capsys: pytest.CaptureFixture) -> None:
    def fail() -> int:
        raise IsADirectoryError(errno.EISDIR, "Is a directory", "/data/store")

    assert run_command(fail, "prepare") == 2
    assert capsys.readouterr().err == "prepare: error: /data/store: is a folder, not a file\n"
    assert run_command(lambda: None) == 0 and run_command(lambda: 3) == 3


def test_describe_os_error_without_path() -> None:
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"


def test_mmfusion_prepare_on_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mmfusion.cli import main

    (tmp_path / "raw").mkdir()
    assert main(["prepare", str(tmp_path / "raw"), str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmfusion: error: ") and "no NTU samples" in err and err.count("\n") == 1
