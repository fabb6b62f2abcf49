"""Schedule explorer: edit any schedule's fields and watch its exact LR curve (the app is explorer/app.py).

    .venv/bin/streamlit run scripts/explore.py
    .venv/bin/streamlit run scripts/explore.py -- --runs multiruns     # the runs folder filled in

See docs/explorer.md.
"""
from explorer.app import run

run()  # streamlit run and AppTest run this file as __main__, once per edit
