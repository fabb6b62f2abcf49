"""analysis.comparison.grid_override_dirnames rebuilds Hydra's grid expansion and job naming from the public override
grammar (no public Hydra function gives them): pinned here to the directories a real Hydra multirun makes."""
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.comparison import expected_job_names, grid_override_dirnames

APP = """
import hydra

@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg):
    pass

main()
"""
CONFIG = "defaults:\n  - opt: x\n  - _self_\na: 0\nb: 0\nseed: 0\nname: plain\n"


@pytest.mark.parametrize("naming", [[], ["hydra.job.config.override_dirname.exclude_keys=[seed]",
                                         "hydra.job.config.override_dirname.item_sep=__",
                                         "hydra.job.config.override_dirname.kv_sep=-"]], ids=["default", "custom"])
def test_the_names_are_the_directories_a_real_grid_sweep_makes(tmp_path: Path, naming: list) -> None:
    (tmp_path / "opt").mkdir()
    for choice in ("x", "y"):
        (tmp_path / "opt" / f"{choice}.yaml").write_text(f"value: {choice}\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "app.py").write_text(APP)
    sweep = tmp_path / "sweep"
    # sweeps and plain values, a group, a range, a quoted value with the item separator in it, an added key
    overrides = ["opt=x,y", "a=1", "b=range(3,5)", "seed=0,1", "name='p,q'", "+extra=1e-3"]
    subprocess.run([sys.executable, "app.py", "-m", *overrides, *naming, f"hydra.sweep.dir={sweep}",
                    "hydra.sweep.subdir=${hydra.job.override_dirname}"], cwd=tmp_path, check=True, capture_output=True)
    names = expected_job_names(sweep)
    assert len(names) == 8  # one per job; with seed excluded, two jobs share each directory
    assert sorted(set(names)) == sorted(p.name for p in sweep.iterdir() if p.is_dir())


def test_a_key_given_twice_keeps_its_last_values_and_an_interval_is_refused() -> None:
    assert grid_override_dirnames(["a=1,2", "b=3", "a=5"], [], ",", "=") == ["a=5,b=3"]
    assert grid_override_dirnames(["seed=0,1", "s=c"], ["seed"], ",", "=") == ["s=c", "s=c"]
    with pytest.raises(ValueError, match="cannot expand"):
        grid_override_dirnames(["lr=interval(0.1,1)"], [], ",", "=")
