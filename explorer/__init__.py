"""The schedule explorer (Streamlit app `scripts/explore.py`): editable schedule forms, exact LR curves, run overlays."""
