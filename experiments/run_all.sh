#!/usr/bin/env bash
# Rerun the seed-paper experiments (results in experiments/results/*.md; each file's hand-written
# "## Claims" section is kept and flagged for re-checking). Budgets as in the results files:
# ~70-90 min of wall time on 2 CPU cores shared with other jobs. Usage: experiments/run_all.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv-core/bin/python}
export PYTHONPATH=$PWD
nice -n 10 "$PY" experiments/e_a2sg_variance.py
nice -n 10 "$PY" experiments/f_readout_init.py --tasks digits --epochs 2
nice -n 10 "$PY" experiments/f_readout_init.py --tasks mnist1d --epochs 5
nice -n 10 "$PY" experiments/f_readout_init.py --tasks digits-conv --epochs 2
nice -n 10 "$PY" experiments/a_asgl_widths.py --epochs 1 --widths 0.5 2.5
nice -n 10 "$PY" experiments/g_a2sg_training.py --epochs 2
nice -n 10 "$PY" experiments/b_adali_density.py --epochs 3
nice -n 10 "$PY" experiments/b_adali_timing.py --rounds 15
nice -n 10 "$PY" experiments/c_slope_schedules.py --epochs 2
nice -n 10 "$PY" experiments/c_slope_schedules.py --epochs 10 --arms "fixed k=100" "interval 1→100 (4 steps)" \
    --out c_slope_long
nice -n 10 "$PY" experiments/c_slope_schedules.py --epochs 10 --arms "fixed k=1" "adaptive (train acc %)" \
    --out c_slope_long_more
# the earlier 2-seed study (not rerun for #19): ASY vs triangle CV
nice -n 10 "$PY" experiments/d_asy_vs_triangle.py
