#!/usr/bin/env bash
# Install Debian's headless Chromium for the report's browser test, when it is missing and we
# can (root + apt). Without it the browser test is skipped with a message saying so.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test (apt-get)..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; the browser test will be skipped"
else
    echo "note: chromium is not installed and cannot be installed here; the browser test will be skipped"
fi
exit 0
