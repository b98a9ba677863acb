#!/usr/bin/env bash
# Print the path of a Python interpreter of the requested minor version ("3.10" or "core" = ≥3.11).
# Looks in pyenv first (facts.md §1: `pyenv prefix 3.10.13`), then on PATH. Exits 1 with a message.
set -u
want="$1"
candidates=()
if [ "$want" = "3.10" ]; then
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -V -r); do
      candidates+=("$(pyenv prefix "$v")/bin/python3.10")
    done
  fi
  candidates+=("$(command -v python3.10 2>/dev/null)")
else
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.11(\.|$)' | sort -V -r); do
      candidates+=("$(pyenv prefix "$v")/bin/python3.11")
    done
  fi
  candidates+=("$(command -v python3.11 2>/dev/null)" "$(command -v python3 2>/dev/null)")
fi
for py in "${candidates[@]}"; do
  [ -n "$py" ] && [ -x "$py" ] || continue
  if [ "$want" = "3.10" ]; then
    "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$py"; exit 0; }
  else
    "$py" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null && { echo "$py"; exit 0; }
  fi
done
if [ "$want" = "3.10" ]; then
  echo "find-python: no Python 3.10 found (lava-dl needs exactly 3.10): install it, e.g. 'pyenv install 3.10.13'" >&2
else
  echo "find-python: no Python >= 3.11 found for the core environment" >&2
fi
exit 1
