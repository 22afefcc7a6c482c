#!/usr/bin/env bash
# One entry point that creates and fills the environment itself, then runs a job:
#   bash dev.sh compare [ARGS...]   the main job: paraminit compare on the bundled data
#   bash dev.sh test [PYTEST ARGS]  ruff check, then the test suite (-m "not slow": the fast loop),
#                                   then tests/timm_models in a second venv (.venv-timm; see there)
#   bash dev.sh paraminit ARGS...   any paraminit command
#   bash dev.sh speed               the speed/memory benchmarks (benchmarks/bench_*.py)
# Needs only python3 (3.10+) and pip. The venv lives in .venv (override: PARAMINIT_VENV).
set -euo pipefail
cd "$(dirname "$0")"
venv="${PARAMINIT_VENV:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "dev.sh: creating $venv with $($python --version 2>&1)" >&2
  "$python" -m venv "$venv"
fi
stamp="$venv/.paraminit-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "dev.sh: installing paraminit[all] into $venv (torch pinned by constraints.txt)" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -c constraints.txt -e ".[all]"
  # mup (the μP tests' reference) asks for torchvision, which would not load beside this
  # torch and breaks transformers' imports: its own code needs only torch, numpy and yaml.
  "$venv/bin/python" -m pip install --quiet --no-deps -c constraints.txt mup
  touch "$stamp"
fi

job="${1:-compare}"
[ $# -gt 0 ] && shift
case "$job" in
  compare) exec "$venv/bin/paraminit" compare "$@" ;;
  test)
    # Lint first and fail fast: a lint error stops the job before any install or test.
    "$venv/bin/ruff" check src tests
    # The HTML report test drives a real headless Chromium. CI installs it (as root, with
    # Debian's apt); elsewhere that test skips when chromium is absent.
    if ! command -v chromium >/dev/null 2>&1 && [ "${CI:-}" = "true" ] && command -v apt-get >/dev/null; then
      echo "dev.sh: installing Debian's chromium for the browser test" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    status=0
    "$venv/bin/python" -m pytest -n 2 -p no:cacheprovider "$@" || status=$?
    # timm needs torchvision, which loads only beside another torch (constraints-timm.txt):
    # tests/timm_models run again in a second environment (PARAMINIT_TIMM=0 skips this).
    if [ "${PARAMINIT_TIMM:-1}" != "0" ]; then
      timm_venv="${PARAMINIT_TIMM_VENV:-.venv-timm}"
      timm_stamp="$timm_venv/.paraminit-installed"
      if [ ! -f "$timm_stamp" ] || [ pyproject.toml -nt "$timm_stamp" ] || [ constraints-timm.txt -nt "$timm_stamp" ]; then
        echo "dev.sh: creating $timm_venv for tests/timm_models (torch + torchvision + timm, constraints-timm.txt)" >&2
        [ -x "$timm_venv/bin/python" ] || "$python" -m venv "$timm_venv"
        "$timm_venv/bin/python" -m pip install --quiet --upgrade pip
        "$timm_venv/bin/python" -m pip install --quiet -c constraints-timm.txt -e ".[dev]" torch torchvision timm
        touch "$timm_stamp"
      fi
      echo "dev.sh: tests/timm_models in $timm_venv" >&2
      "$timm_venv/bin/python" -m pytest -p no:cacheprovider -q tests/timm_models || status=$?
    fi
    exit "$status" ;;
  speed) for script in benchmarks/bench_*.py; do "$venv/bin/python" "$script"; done ;;
  paraminit) exec "$venv/bin/paraminit" "$@" ;;
  *) echo "dev.sh: unknown job '$job' (compare, test, speed, paraminit)" >&2; exit 2 ;;
esac
