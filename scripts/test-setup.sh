#!/usr/bin/env bash
# Installs what the tests need outside Python: Debian's headless Chromium and its
# WebDriver, for the test that opens `gankit report`'s page in a browser.
# Quiet and idempotent: does nothing when both are present. Without root or apt
# it says so and carries on (that one test then skips with a reason).
set -uo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "test-setup: no apt-get; install chromium and chromedriver yourself (the browser test will skip)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "test-setup: not root; install chromium and chromium-driver yourself (the browser test will skip)" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
install() { $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; }
if ! install; then
    # Package lists missing or stale on a fresh machine: refresh once, then retry.
    $SUDO apt-get update -qq >/dev/null 2>&1
    if ! install; then
        echo "test-setup: apt-get could not install chromium chromium-driver (the browser test will skip)" >&2
    fi
fi
exit 0
