#!/usr/bin/env bash
# Accuracy of the default demo config over seeds and CPU kernel paths (README "Demo numbers").
# Usage: scripts/accuracy_ranges.sh PYTHON OUT_DIR [SEEDS] [KERNEL_PATHS]
#   PYTHON        interpreter of an environment with neurodeploy installed (e.g. .venv-full/bin/python)
#   KERNEL_PATHS  space-separated ATEN_CPU_CAPABILITY values; "native" = unset (the CPU's best)
# Each run: train configs/digits.toml → export --target loihi → verify -n 0 --no-lava (float vs the
# bit-exact emulator on the whole test split). Prints one line per run and writes OUT_DIR/ranges.tsv.
set -euo pipefail
py="$1"; out="$2"; seeds="${3:-0 1 2}"; paths="${4:-native default avx2}"
mkdir -p "$out"
printf 'seed\tkernel_path\tmkl_cbwr\tfloat\temulator\n' > "$out/ranges.tsv"
for path in $paths; do
  for seed in $seeds; do
    run="$out/s${seed}-${path}"
    envs=()
    [[ "$path" != native ]] && envs+=("ATEN_CPU_CAPABILITY=$path")
    if [[ ! -f "$run/last.pt" || -n "${RETRAIN:-}" ]]; then   # reuse finished runs unless RETRAIN=1
      rm -rf "$run"
      env ${envs[@]+"${envs[@]}"} "$py" -m neurodeploy.cli train configs/digits.toml --seed "$seed" --out "$run" -q >/dev/null
    fi
    env ${envs[@]+"${envs[@]}"} "$py" -m neurodeploy.cli export "$run" --target loihi -o "$run/model.net" >/dev/null
    env ${envs[@]+"${envs[@]}"} "$py" -m neurodeploy.cli verify "$run/model.net" -n 0 --no-lava --json-out "$run/verify.json" >/dev/null || true
    "$py" - "$run/verify.json" "$seed" "$path" "${MKL_CBWR:-unset}" >> "$out/ranges.tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["accuracy"]
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{sys.argv[4]}\t{a['float']:.4f}\t{a['emulator']:.4f}")
PY
    tail -n 1 "$out/ranges.tsv"
  done
done
