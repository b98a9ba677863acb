#!/usr/bin/env bash
# Rerun the #19 experiments (results in experiments/results/*.md). Budgets are the scripts' defaults;
# ~25 min of wall time on 2 shared CPU cores. Usage: experiments/run_all.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv-core/bin/python}
export PYTHONPATH=$PWD
nice -n 10 "$PY" experiments/e_a2sg_variance.py
nice -n 10 "$PY" experiments/f_readout_init.py
nice -n 10 "$PY" experiments/a_asgl_widths.py
