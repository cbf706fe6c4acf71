#!/usr/bin/env bash
# Installs what the tests need outside Python: Debian's headless Chromium and its
# WebDriver (the test that opens `gankit report`'s page in a browser), and PostgreSQL
# (the test of several `gankit tune` workers on one study starts a private server).
# Quiet and idempotent: does nothing when all are present. Without root or apt
# it says so and carries on (those tests then skip with a reason).
set -uo pipefail

have_postgres() {
    command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
packages=()
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    packages+=(chromium chromium-driver)
fi
if ! have_postgres; then
    packages+=(postgresql)
fi
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "test-setup: no apt-get; install ${packages[*]} yourself (their tests will skip)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "test-setup: not root; install ${packages[*]} yourself (their tests will skip)" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
install() { $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null 2>&1; }
if ! install; then
    # Package lists missing or stale on a fresh machine: refresh once, then retry.
    $SUDO apt-get update -qq >/dev/null 2>&1
    if ! install; then
        echo "test-setup: apt-get could not install ${packages[*]} (their tests will skip)" >&2
    fi
fi
exit 0
