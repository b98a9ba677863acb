#!/usr/bin/env bash
# Install Debian's headless Chromium for the HTML-report browser test, if missing and we can.
# The test skips with a stated reason when no browser is available.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser test (apt-get)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "browser.sh: could not install chromium; the browser test will be skipped" >&2
else
  echo "browser.sh: chromium not installed and no root/apt-get; the browser test will be skipped" >&2
fi
