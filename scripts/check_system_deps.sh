#!/usr/bin/env bash
# open3d's wheel links against libusb-1.0 (a Debian system library, not on PyPI).
# Install it when we can (root + apt), otherwise stop with the exact command to run.
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing libusb-1.0-0 (needed by open3d)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
[setup] ERROR: open3d needs the system library libusb-1.0 which is not installed.
        On Debian/Ubuntu run:   sudo apt-get install libusb-1.0-0
        (Fedora: sudo dnf install libusb1 ; macOS: brew install libusb), then re-run `make setup`.
MSG
exit 1
