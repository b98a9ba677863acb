#!/usr/bin/env bash
# Install Debian's headless Chromium for the HTML-report browser tests (tests/test_energy_html.py),
# if missing and we can, then check that it starts. The tests skip with a stated reason when no
# browser is installed.
set -u
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser test (apt-get)…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || { echo "browser.sh: could not install chromium; the browser test will be skipped" >&2; exit 0; }
  else
    echo "browser.sh: chromium not installed and no root/apt-get; the browser test will be skipped" >&2
    exit 0
  fi
fi
# smoke test: the tests run it the same way (headless, no sandbox: containers run as root)
profile=$(mktemp -d)
if timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$profile" \
     --dump-dom "data:text/html,<p id=ok>ok</p>" 2>/dev/null | grep -q 'id="ok"'; then
  echo "browser.sh: $(chromium --version 2>/dev/null) works headless"
else
  echo "browser.sh: chromium is installed but does not start headless; the browser tests will fail" >&2
fi
rm -rf "$profile"
