#!/usr/bin/env bash
# Rerun the #19 experiments (results in experiments/results/*.md). Budgets are the scripts' defaults;
# ~40 min of wall time on 2 CPU cores shared with other jobs (load ≈ 8). Usage: experiments/run_all.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv-core/bin/python}
export PYTHONPATH=$PWD
nice -n 10 "$PY" experiments/e_a2sg_variance.py
nice -n 10 "$PY" experiments/f_readout_init.py --tasks digits --epochs 2
nice -n 10 "$PY" experiments/a_asgl_widths.py --epochs 1 --widths 0.5 2.5
nice -n 10 "$PY" experiments/g_a2sg_training.py --epochs 2
nice -n 10 "$PY" experiments/f_readout_init.py --tasks mnist1d --epochs 1 \
    --arms default/spike-count near-threshold/spike-count near-threshold/membrane-mean
