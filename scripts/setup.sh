#!/usr/bin/env bash
# One-command setup: find a Python 3.8-3.10 (OneFlow 0.9.0's range), create .venv, install the
# pinned requirements, and verify that `import oneflow, flowvision` works. Re-running is a quick no-op.
#
# Another OneFlow build (e.g. a CUDA 12 build for Hopper/Blackwell GPUs, which PyPI's 0.9.0 cannot
# run; see docs/gpu.md) replaces the pinned oneflow==0.9.0:
#   ONEFLOW_SPEC        a pip requirement, a wheel file or a wheel URL, e.g. 'oneflow>=0.9.1.dev0'
#   ONEFLOW_FIND_LINKS  a page of wheel links for pip --find-links (what OneFlow publishes its builds as)
#   ONEFLOW_INDEX_URL   a package index (PEP 503) for pip --extra-index-url
# e.g. ONEFLOW_SPEC='oneflow>=0.9.1.dev0' ONEFLOW_FIND_LINKS=<OneFlow's cu121 page> bash scripts/setup.sh
# The CUDA libraries that build links are found at run time by engine/platform/oneflow_env.py.
#
# --with-torch also installs PyTorch and the authors' schedulefree (requirements-torch.txt) for backend=torch
# (docs/backends.md): a CUDA build of about 1 GB more to download.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP="$VENV/.setup-stamp"

supported() {  # $1: interpreter; succeeds when it runs and is Python 3.8-3.10
  "$1" -c 'import sys, venv; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)' >/dev/null 2>&1
}

find_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  for v in 3.10 3.9 3.8; do
    command -v "python$v" >/dev/null 2>&1 && candidates+=("$(command -v "python$v")")
  done
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    for v in 3.10 3.9 3.8; do
      for p in $(ls -d "$root"/versions/"$v".*/bin/python 2>/dev/null | sort -rV); do candidates+=("$p"); done
    done
  fi
  command -v python3 >/dev/null 2>&1 && candidates+=("$(command -v python3)")
  for c in "${candidates[@]}"; do
    if supported "$c"; then echo "$c"; return 0; fi
  done
  if command -v uv >/dev/null 2>&1; then
    local p; p=$(uv python find 3.10 2>/dev/null || (uv python install 3.10 >&2 && uv python find 3.10) 2>/dev/null || true)
    if [ -n "$p" ] && supported "$p"; then echo "$p"; return 0; fi
  fi
  return 1
}

WITH_TORCH=0
if [ "${1:-}" = "--with-torch" ]; then
  WITH_TORCH=1
  shift
fi
# The stamp records what the current .venv was built from; an unchanged one means nothing to do.
ONEFLOW_SPEC=${ONEFLOW_SPEC:-}
ONEFLOW_FIND_LINKS=${ONEFLOW_FIND_LINKS:-}
ONEFLOW_INDEX_URL=${ONEFLOW_INDEX_URL:-}
if [ -z "$ONEFLOW_SPEC" ] && { [ -n "$ONEFLOW_FIND_LINKS" ] || [ -n "$ONEFLOW_INDEX_URL" ]; }; then
  echo "setup: ONEFLOW_FIND_LINKS / ONEFLOW_INDEX_URL only say where to look; also set ONEFLOW_SPEC to the build to install, e.g. ONEFLOW_SPEC='oneflow>=0.9.1.dev0' (docs/gpu.md)." >&2
  exit 2
fi
# (a different OneFlow build is a different .venv: its spec and where it comes from are part of the fingerprint)
fingerprint=$( (cat requirements.txt pyproject.toml scripts/setup.sh; [ "$WITH_TORCH" = 1 ] && cat requirements-torch.txt
  printf '%s\n' "oneflow spec: $ONEFLOW_SPEC" \
  "find links: $ONEFLOW_FIND_LINKS" "index: $ONEFLOW_INDEX_URL") | sha256sum | cut -d' ' -f1)
if [ "${1:-}" = "--print-fingerprint" ]; then  # what the stamp would record (tests)
  echo "$fingerprint"
  exit 0
fi
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$fingerprint" ] && supported "$VENV/bin/python"; then
  echo "setup: .venv is up to date ($("$VENV/bin/python" --version)); nothing to do."
  exit 0
fi

if ! PY=$(find_python); then
  cat >&2 <<'MSG'
setup: no Python 3.8, 3.9 or 3.10 interpreter was found (looked at $PYTHON, python3.10/3.9/3.8 on PATH, pyenv's versions, python3, and uv). OneFlow 0.9.0, the only real OneFlow release on PyPI, has wheels for Python 3.8-3.10 only. Install one, for example `pyenv install 3.10` or `uv python install 3.10` or your distribution's python3.10 package (with its venv module), then run `bash scripts/setup.sh` again, or point to an existing interpreter with `PYTHON=/path/to/python3.10 bash scripts/setup.sh`.
MSG
  exit 1
fi
echo "setup: using $PY ($("$PY" --version 2>&1))"

if [ -x "$VENV/bin/python" ] && ! supported "$VENV/bin/python"; then
  echo "setup: existing $VENV uses an unsupported Python; recreating it"
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || { echo "setup: creating $VENV"; "$PY" -m venv "$VENV"; }

step() {  # what setup is doing now, so that minutes of downloading never look like a hang
  echo "setup: [$1/5] $2"
}
pip_install() {  # pip's lines for what it fetches and installs, indented; pip's cache is kept, so a re-run is fast
  # (grep drops "already satisfied" lines and a harmless warning some machines' pip configs print for every package)
  "$VENV/bin/python" -m pip --disable-pip-version-check install --progress-bar off "$@" 2>&1 \
    | { grep --line-buffered -v -e "is ignored: it is neither a file nor a directory" -e "^Requirement already satisfied" \
        | sed -u 's/^/  /' || true; }
  return "${PIPESTATUS[0]}"
}
step 1 "upgrading pip, setuptools and wheel in $VENV"
pip_install --upgrade "pip<25" "setuptools<70" wheel
step 2 "installing requirements.txt (OneFlow alone is a download of several hundred MB: minutes on a slow link)"
if [ -z "$ONEFLOW_SPEC" ]; then
  pip_install -r requirements.txt
else
  # Everything pinned except oneflow itself, then the requested build (which replaces an installed 0.9.0).
  grep -v -E '^oneflow[=<> ]' requirements.txt > "$VENV/.requirements-without-oneflow.txt"
  pip_install -r "$VENV/.requirements-without-oneflow.txt"
  oneflow_source=()
  [ -n "$ONEFLOW_FIND_LINKS" ] && oneflow_source+=(--find-links "$ONEFLOW_FIND_LINKS")
  [ -n "$ONEFLOW_INDEX_URL" ] && oneflow_source+=(--extra-index-url "$ONEFLOW_INDEX_URL")
  echo "setup: installing OneFlow from ONEFLOW_SPEC=$ONEFLOW_SPEC ${oneflow_source[*]:-}"
  pip_install --upgrade ${oneflow_source[@]+"${oneflow_source[@]}"} "$ONEFLOW_SPEC"
fi
# flowvision 0.2.2 needs a newer oneflow; 0.2.1's sdist imports pkg_resources at build time.
step 3 "installing flowvision 0.2.1"
pip_install --no-build-isolation flowvision==0.2.1
step 4 "installing this project (editable)"
# The project itself, editable: `import engine` etc. work from any folder, with no sys.path edits.
# (compat mode puts the checkout on sys.path, so conf/ and hydra_plugins/ are found as they are.)
pip_install --no-build-isolation --no-deps -e . --config-settings editable_mode=compat

step 5 "checking that oneflow and flowvision import"
"$VENV/bin/python" -c 'import engine.platform.oneflow_env, oneflow, flowvision, hydra, tensorboardX; print(f"setup: oneflow {oneflow.__version__}, flowvision {flowvision.__version__} import fine")'
if [ "$WITH_TORCH" = 1 ]; then
  echo "setup: installing PyTorch for backend=torch (requirements-torch.txt; a download of about 1 GB)"
  pip_install -r requirements-torch.txt
  "$VENV/bin/python" -c 'import engine.platform.oneflow_env, oneflow, torch, schedulefree; print(f"setup: torch {torch.__version__} imports fine beside oneflow")'
fi
echo "setup: check this machine and its GPUs with: .venv/bin/python scripts/doctor.py"
echo "$fingerprint" > "$STAMP"
echo "setup: done. Run: .venv/bin/python train.py data=synthetic model=tiny trainer.max_epochs=2"
