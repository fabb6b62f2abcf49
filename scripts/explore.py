"""Schedule explorer: pick learning-rate schedules, edit every field of their YAML, watch the exact curves.

    .venv/bin/streamlit run scripts/explore.py
    .venv/bin/streamlit run scripts/explore.py -- --runs multiruns     # the runs folder filled in

Each curve is composed from the overrides the widgets set (the `python train.py ...` line shown under
the chart), previewed by the project's own factory (engine.training.schedule_preview.preview), and drawn per
optimizer step; finished runs overlay the LR they logged on the curve their own config plans. The app
writes nothing: downloads go to the browser. See docs/explorer.md.
"""
from explorer.app import run

run()  # streamlit run and AppTest run this file as __main__, once per edit; the app lives in explorer/
