#!/usr/bin/env bash
# Creates a Python venv with the independent ESL clients used by tests/python_peers.rs.
#   crates/kontakt-sim/tests/peers/setup.sh DIR
# then run the test with KONTAKT_PY_PEERS=DIR/bin/python.
set -euo pipefail
dir="${1:?usage: setup.sh VENV_DIR}"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check \
    greenswitch==0.0.19 gevent==26.9.0 genesis==2026.10.18
"$dir/bin/python" -c 'import greenswitch, gevent, genesis; print("peers ok:", genesis.__version__)'
