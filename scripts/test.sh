#!/usr/bin/env bash
# The one test command: README and .ci/run both call it. It installs what is missing on a
# fresh Debian machine (as root, through apt-get), then runs format, lint and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests need. chromium + chromium-driver: the dashboard's browser tests
# (/usr/bin/chromium, /usr/bin/chromedriver). Later issues add redis-server.
APT_PACKAGES=(chromium chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
fi

# One process may open at most 20,000 files here; connection tests are sized below that.
ulimit -n 20000 2>/dev/null || true

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Optional features are linted and tested too (the autoscaler's Kubernetes provider, tested
# against a local server implementing the API subset it uses).
echo "==> cargo clippy --all-features"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
echo "==> cargo test (kubernetes feature)"
cargo test -p shoal-autoscale --features kubernetes --locked
