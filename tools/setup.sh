#!/usr/bin/env bash
# Sets up kqkd on a fresh Debian machine: system packages, npm dependencies, the native addon, the TS build.
# Idempotent: re-running skips what is already installed. Needs root (or sudo) only for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server: the queue of `kqkd experiment --queue` / `kqkd worker` (its tests start their own on a free port)
# python3-torch, python3-onnx: Debian's PyTorch at /usr/bin/python3, the reference of the ONNX-student equivalence test
# (packages/train/test/onnx-student.test.ts; skipped, saying so, where it is missing) and of models/students/export.py
APT_PACKAGES=(cmake g++ make pkg-config libopenblas-dev dataset-fashion-mnist fonts-dejavu-core redis-server python3-torch python3-onnx)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "setup: npm ci"
# onnxruntime-node's postinstall (when npm runs it) would download its CUDA provider; the environment variable skips
# it without an npm config key (which npm warns about on every command).
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error

echo "setup: building the native addon and the TypeScript packages"
npx nx run-many -t build --outputStyle=static
