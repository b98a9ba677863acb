#!/usr/bin/env bash
# Rerun the seed-paper experiments (results in experiments/results/*.md; each file's hand-written
# "## Claims" section is kept and flagged for re-checking). Budgets as in the results files:
# ~2-2.5 h of wall time on 2 CPU cores shared with other jobs (first round ~70-90 min, second ~1 h). Usage: experiments/run_all.sh [python]
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
# #19, second round: k = 25 at 10 epochs (k = 10 rerun beside it, identical per seed), AdaLi at
# 10 epochs with the fixed-boundary baselines (paper Fig. 6) and a coverage sweep, every method on
# MNIST-1D (near-threshold init, LI readout), the full ASGL grid (paper Tables 2/3) at 5 epochs
nice -n 10 "$PY" experiments/c_slope_schedules.py --epochs 10 --arms "fixed k=25" --out c_slope_k25
nice -n 10 "$PY" experiments/b_adali_density.py --epochs 10 --coverage 0.5 0.65 0.8 --fixed --out b_adali_long \
    --arms "log · normalised" "linear · normalised" "log · normalised · auto (c = 0.5)" \
    "log · normalised · auto (c = 0.65)" "log · normalised · auto (c = 0.8)" \
    "fixed small L = R = 0.3 (no schedule)" "fixed large L = R = 1.5 (no schedule)"
nice -n 10 "$PY" experiments/g_a2sg_training.py --epochs 5 --out g_a2sg_training_5ep
nice -n 10 "$PY" experiments/g_a2sg_training.py --task digits-conv --epochs 3 --out g_a2sg_training_digits-conv
nice -n 10 "$PY" experiments/g_a2sg_training.py --task mnist1d --epochs 10 --out g_a2sg_training_mnist1d
nice -n 10 "$PY" experiments/b_adali_density.py --task mnist1d --hidden 128 --epochs 5 --fixed --out b_adali_mnist1d \
    --arms "log · normalised" "linear · normalised" "log · normalised · auto (c = 0.65)" \
    "fixed small L = R = 0.3 (no schedule)" "fixed large L = R = 1.5 (no schedule)"
nice -n 10 "$PY" experiments/a_asgl_widths.py --task mnist1d --epochs 5 --widths 1 --out a_asgl_widths_mnist1d \
    --arms "learn (lr 3e-4), p=0.8" "learn (lr 1e-2), p=0.8"
nice -n 10 "$PY" experiments/c_slope_schedules.py --task mnist1d --epochs 5 --hidden 128 --target 0.3 --out c_slope_mnist1d
nice -n 10 "$PY" experiments/a_asgl_widths.py --epochs 5 --widths 0.5 1 2 2.5 5 10 --out a_asgl_grid_5ep
# the earlier 2-seed study (not rerun for #19): ASY vs triangle CV
nice -n 10 "$PY" experiments/d_asy_vs_triangle.py
