#!/usr/bin/env bash
# The main job end to end on the embedded digits-events data:
# train → export NIR → export Loihi 2 (netx) → verify (float vs emulator vs Lava) → energy report.
set -euo pipefail
venv="$1"; run="$2"
nd="$venv/bin/neurodeploy"
rm -rf "$run"
SECONDS=0
"$nd" train configs/digits.toml --out "$run"
"$nd" export "$run" --target nir -o "$run/model.nir"
"$nd" export "$run" --target loihi -o "$run/model.net"
"$nd" verify "$run/model.net" --samples "${VERIFY_SAMPLES:-64}" --json-out "$run/verify.json"
"$nd" energy "$run" --format json --format md --format html -o "$run/energy"
echo
echo "demo finished in ${SECONDS} s: $run/{last.pt,model.nir,model.net,verify.json,energy.json,energy.html}"
