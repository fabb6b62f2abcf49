"""A run's start-up imports only what training needs: plotting, statistics, dataframes and flowvision stay out.

Asserts imports, not times (times live in docs/performance.md and scripts/bench.py)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Imported by the analysis scripts, the explorer, data=digits (sklearn) or data.loader=dataloader (flowvision) only.
NOT_IN_A_RUN = ("matplotlib", "scipy", "pandas", "sklearn", "flowvision", "streamlit", "optuna")
PROBE = f"""
import sys
import train
from engine.config.compose import compose_config
from engine.training.run import build_run, validated
build_run(validated(compose_config("data=synthetic", "model=tiny", "data.train_size=64", "device=cpu"))).loaders()
print(" ".join(sorted({{name.split(".")[0] for name in sys.modules}} & set({NOT_IN_A_RUN!r}))))
"""


def test_the_training_path_does_not_import_plotting_or_analysis_libraries():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [], f"a run imports {result.stdout.strip()}: import them where they are used"


def test_bench_startup_times_a_real_start_up_to_its_first_step():
    from scripts import bench_startup
    report = bench_startup.main(["--repeats", "1"])
    assert report["first_step_s_median"] > report["import_train_s_median"] > 0  # compose, checks, data come after imports


def test_bench_startup_times_a_torch_start_up():
    """Its child imported engine.training.steps (choosing OneFlow) before train.py read backend=torch: refused."""
    import pytest

    pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    from scripts import bench_startup
    report = bench_startup.main(["--repeats", "1", "backend=torch", "data=synthetic", "model=tiny", "data.train_size=64",
                                 "trainer.max_epochs=1", "trainer.progress=false"])
    assert report["overrides"][0] == "backend=torch" and report["first_step_s_median"] > 0
