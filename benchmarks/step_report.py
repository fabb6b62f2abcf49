"""The training-step benchmark's report: printed lines and results/bench/<model>_<device>.md."""
from __future__ import annotations


def print_report(r: dict) -> None:
    ips, ms = r["images_per_s"], r["step_ms"]
    labels = {"floor": "(a) bare loop (floor)", "project": "(b) project step, eager", "graph": "(c) project step, graph"}
    for name, label in labels.items():
        if name in ips:
            print(f"{label:<26} {ips[name]:>10,.1f} images/s   {ms[name]:>10,.1f} ms/step")
    print(f"(b)/(a) {r['ratio_project_over_floor']:.4f}  (overhead {r['overhead_pct']:+.2f}%; best repeats {r['overhead_pct_best']:+.2f}%)"
          + (f"   (c)/(b) {r['ratio_graph_over_project']:.4f}" if r["ratio_graph_over_project"] is not None else ""))
    print("(d) scheduler step (us): " + "  ".join(f"{k} {v:.1f}" for k, v in r["scheduler_step_us"].items()))
    print("step parts (us): " + "  ".join(f"{k} {v:,.1f}" for k, v in r["step_parts_us"].items()))
    print(f"graph mode {r['graph_mode']}" + (f": could not run here ({r['graph_unavailable']})" if r.get("graph_unavailable") else "")
          + f"; threads: {thread_settings(r)}")
    print("before the first training step (s): " + "  ".join(f"{k} {v:.2f}" for k, v in r["fixed_cost_s"]["before_first_training_step_s"].items()))


PARTS = {"input_pipeline": "input pipeline: next batch (device loader, epoch plan included)",
         "epoch_plan_amortised": "of which the epoch plan, amortised over the epoch's batches",
         "read_lrs": "reading the LRs the step applies (Python floats)",
         "meter_record": "`StepMeter.record`: LR to TensorBoard, keep loss/logits/labels, count the step",
         "of_which_add_scalar_lr": "of which tensorboardX `add_scalar('lr', ...)`",
         "loss_check_amortised": "loss check (one host sync; loss and accuracy sums), amortised over `log_every_n_steps`",
         "removed_per_step_device_sums": "*removed:* the earlier loop's per-step on-device loss and accuracy sums (not in (b))"}


def thread_settings(r: dict) -> str:
    """The thread pool the figures were measured with: the framework's own count, and the variables that set it."""
    variables = r["machine"].get("thread_variables") or {}
    count = (f"{r['framework_threads']} intra-op threads" if r.get("framework_threads") is not None
             else "OneFlow's pool (no getter)")
    return f"{count}; " + (", ".join(f"{k}={v}" for k, v in variables.items()) if variables
                           else "no thread variable set (each pool takes every core)")


def graph_absent(r: dict) -> str:
    """Why (c) has no figure: --no-graph, or the graph mode failed to compile on this machine."""
    if r.get("graph_unavailable"):
        return f"Graph mode ({r['graph_mode']}) could not run on this machine, so (c) is not measured: {r['graph_unavailable']}"
    return "Graph mode not measured (--no-graph)."


def markdown(r: dict) -> str:
    m, ips, ms, parts, fc = r["machine"], r["images_per_s"], r["step_ms"], r["step_parts_us"], r["fixed_cost_s"]
    loops = [("floor", "(a) bare forward + backward + SGD step, one fixed batch"),
             ("project", "(b) the project's step, eager (`engine.training.steps.train_step` + device loader + loss check)"),
             ("graph", "(c) the same, `trainer.graph=true`")]
    loop_rows = "\n".join(f"| {label} | {ips[k]:,.1f} | {ms[k]:,.1f} | {r['images_per_s_best'][k]:,.1f} | {', '.join(f'{x:,.1f}' for x in r['step_ms_repeats'][k])} |"
                          for k, label in loops if k in ips)
    floor_us = ms["floor"] * 1e3
    part_rows = "\n".join(f"| {PARTS[k]} | {v:,.1f} | {100 * v / floor_us:.3f}% |" for k, v in parts.items())
    sched_rows = "\n".join(f"| `{k}` | {v:.1f} | {'yes' if v < 20 else '**no**'} |" for k, v in r["scheduler_step_us"].items())
    fixed_rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in fc.items() if isinstance(v, (int, float)))
    first = fc["first_training_step_s"]
    eval_rows = "\n".join(f"| {mode} | {e['first_batch_s']:.3f} | {e['batch_s']:.3f} | {e['batches']} | {e['first_evaluation_s']:.1f} |"
                          for mode, e in r["evaluation"].items())
    graph_line = (f"(c)/(b) = **{r['ratio_graph_over_project']:.3f}** (graph images/s over eager); train graph compile "
                  f"{fc['train_graph_compile_s']:.2f} s (first graph step {first['graph']:.2f} s minus a steady one)."
                  if r["ratio_graph_over_project"] is not None else graph_absent(r))
    return f"""# Training-step benchmark: model={r['model']}, batch {r['batch_size']}, {r['device']} (`scripts/bench.py`)

Machine: {m['cpu']}, {m['cores_available']} cores available, load average {m['load_average_at_start']:.2f} at start and
{m['load_average_at_end']:.2f} at end (other processes shared these cores), Python {m['python']}, backend {r['backend']}
{r['backend_version']} (graph mode: {r['graph_mode']}), OneFlow {m['oneflow']}, NumPy {m['numpy']}, CUDA: {m['cuda']};
{m['date_utc']} UTC. Threads: {thread_settings(r)}. Data: synthetic stand-in for CIFAR-100
({r['images']:,} training images, 100 classes) through the real device loader and `data=cifar100` settings;
schedule `{r['scheduler']}`{f"; overrides {' '.join(r['overrides'])}" if r.get('overrides') else ''}. Each loop: {r['warmup']} warm-up steps (not timed), then {r['repeats']} repeats of
{r['steps']} steps, loops timed in turns, each timed block ending with a full device sync (the
last step's backward and update included); figures are medians over the repeats.

## Images per second

| loop | images/s (median) | ms/step (median) | images/s (best repeat) | ms/step per repeat |
|---|---|---|---|---|
{loop_rows}

(b)/(a) = **{r['ratio_project_over_floor']:.4f}**: the project's step costs **{r['overhead_pct']:+.2f}%** over the floor
(medians; **{r['overhead_pct_best']:+.2f}%** between the best repeats, the least disturbed by other processes).
{graph_line}

## Where (b)'s time goes besides the model (each piece timed alone, per step)

| piece | µs per step | share of the floor step |
|---|---|---|
{part_rows}

## (d) One scheduler step (target < 20 µs)

| schedule | µs | < 20 µs |
|---|---|---|
{sched_rows}

## Fixed cost of a run (seconds)

| phase | s |
|---|---|
{fixed_rows}
| first training step, eager | {first['eager']:.3f} |
{f"| first training step, graph (compile + step) | {first['graph']:.3f} |" if 'graph' in first else ''}

Before the first training step (imports + config + dataset from the extracted CIFAR-100 folder, or the
synthetic set when the archive was skipped + model, schedule, steps, loaders, run files, first batch;
graph: + train graph compile): {', '.join(f"**{k} {v:.2f} s**" for k, v in fc['before_first_training_step_s'].items())}.

## First evaluation (test set, eval batch size from `data=cifar100`)

| mode | first batch (s) | later batch (s) | batches | first evaluation ≈ first + (batches − 1) × later (s) |
|---|---|---|---|---|
{eval_rows}
"""

