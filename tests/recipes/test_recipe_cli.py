"""The recipes' command lines: --help documents each option, a bad value is a usage error.

Runs each recipe as a script (a subprocess, as a user would), so that the exit status, the
streams and the absence of a traceback are what a shell sees.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: every recipe but UniPose's (helper scripts with their own options)
RECIPES = sorted([*(ROOT / "recipes").glob("*_ntu.py"), ROOT / "recipes" / "train_inline.py"])
#: recipes on the skeleton data options (mmfusion.experiments.skeleton.SkeletonData)
SKELETON_DATA_RECIPES = ("skeleton_ntu", "finetec_ntu")


def _run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize("script", RECIPES, ids=lambda p: p.stem)
def test_help_describes_every_option(script: Path) -> None:
    proc = _run(script, "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    # an option line is "│ --name METAVAR" followed (same or next lines) by its description
    blocks = re.split(r"\n│ (?=--)", text)
    options = blocks[1:]
    assert len(options) > 40, text  # the recipe's own options + the engine's
    for block in options:
        name = block.split()[0]
        body = " ".join(line.strip("│ ").strip() for line in block.splitlines()[1:])
        head = block.splitlines()[0]
        described = re.sub(r"\(default: [^)]*\)", "", head.split(None, 2)[-1] + " " + body).strip("│ ─╰╯")
        assert re.search(r"[a-z]{3}", described), f"{script.name}: {name} has no description"
    # the skeleton recipe has the skeleton data options (SkeletonData) instead of the multimodal ones
    data_options = (("--data-root", "--protocol {xsub,xview,xset}", "--dataset {ntu60,ntu120,ucla,pku1,pku2}",
                     "--window", "--family {ctrgcn,pyskl,frame50,none}", "--clips", "--stream")
                    if script.stem in SKELETON_DATA_RECIPES else
                    ("--data-root", "--protocol {xsub,xview,xsub120,xset}", "--image-size", "--clip-len"))
    for option in (*data_options, "--train.epochs", "--train.optimizer {sgd,adamw}",
                   "--train.scheduler {cosine,step,constant}", "--train.ema, --train.no-ema", "--train.resume"):
        assert option in text, f"{script.name}: {option} missing from --help"


BAD = [(script, ("--protocol", "bogus"), "--protocol") for script in RECIPES] + [
    (ROOT / "recipes" / "mmixer_ntu.py", ("--train.epochs", "two"), "--train.epochs"),
    (ROOT / "recipes" / "mmixer_ntu.py", ("--train.optimizer", "lamb"), "--train.optimizer"),
    (ROOT / "recipes" / "mmixer_ntu.py", ("--no-such-option", "1"), "--no-such-option")]


@pytest.mark.parametrize("script, args, option", BAD, ids=lambda v: v.stem if isinstance(v, Path) else None)
def test_bad_value_is_a_usage_error(script: Path, args: tuple[str, ...], option: str, tmp_path: Path) -> None:
    proc = _run(script, *args, "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stderr
    assert option in proc.stderr and "--help" in proc.stderr and "usage: " in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()  # nothing built


def test_validation_error_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run(ROOT / "recipes" / "mmixer_ntu.py", "--train.epochs", "0", "--cache-dir", str(tmp_path / "c"))
    assert proc.returncode == 2 and "epochs must be >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "c").exists()


@pytest.mark.parametrize("script", RECIPES, ids=lambda p: p.stem)
def test_missing_data_root_is_one_error_line(script: Path, tmp_path: Path) -> None:
    """A user error found after parsing (here a --data-root that does not exist) is one line, exit 2."""
    proc = _run(script, "--data-root", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "nowhere" in errors[0] and errors[0].startswith(script.name)


def test_finetec_unknown_ablation_is_one_error_line(tmp_path: Path) -> None:
    proc = _run(ROOT / "recipes" / "finetec_ntu.py", "--ablate", "fusion", "--output-dir", str(tmp_path / "runs"),
                "--cache-dir", str(tmp_path / "cache"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "unknown stage(s) ['fusion']" in proc.stderr
    assert not (tmp_path / "cache").exists()  # refused before any data is built
