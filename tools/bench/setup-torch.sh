#!/usr/bin/env bash
# Installs the PyTorch CPU reference for benchmarks only (Debian's python3-torch); never needed by kqkd itself.
set -euo pipefail
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-numpy >/dev/null
