"""scripts/budgets.py: accuracy per budget and the steps each schedule cost, read from the runs' summary.json files."""
import json

from analysis.budgets import accuracy_and_cost, markdown


def write(folder, **fields):
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"status": "completed", **fields}))


def test_branches_cost_only_their_own_steps_and_schedule_free_is_read_at_every_budget(tmp_path):
    for seed in (0, 1):
        for budget in (2, 4):
            write(tmp_path / "cosine" / f"b={budget},seed={seed}", seed=seed, max_epochs=budget, global_step=10 * budget,
                  final_acc1=80.0 + budget + seed)
        write(tmp_path / "wsd" / f"seed={seed}", seed=seed, max_epochs=4, global_step=40, final_acc1=90.0 + seed)
        write(tmp_path / "wsd_branches" / f"seed={seed}" / "b=2", seed=seed, max_epochs=2, global_step=20,
              final_acc1=85.0, forked_from={"run": "x", "epoch": 1, "step": 10})
        write(tmp_path / "schedule_free" / f"seed={seed}", seed=seed, max_epochs=4, global_step=40, final_acc1=70.0,
              history={"val/acc1": [50.0, 60.0 + seed, 65.0, 70.0]})
    write(tmp_path / "cosine" / "failed", seed=0, max_epochs=2, global_step=3, final_acc1=0.0)
    (tmp_path / "cosine" / "failed" / "summary.json").write_text(json.dumps({"status": "failed"}))

    table = accuracy_and_cost([2, 4], tmp_path)
    assert table["cosine"] == {"acc": {2: [82.0, 83.0], 4: [84.0, 85.0]}, "steps": [60, 60]}
    assert table["wsd"]["acc"][2] == [85.0, 85.0]
    assert sorted(table["wsd"]["acc"][4]) == [90.0, 91.0] and table["wsd"]["steps"] == [50, 50]  # 40 + (20 - 10)
    assert table["schedule_free"] == {"acc": {2: [60.0, 61.0], 4: [70.0, 70.0]}, "steps": [40, 40]}
    text = markdown(table, [2, 4], 2)
    assert "| cosine | 82.50 ± 0.71" in text and text.count("\n| ") == 3  # a row per schedule
