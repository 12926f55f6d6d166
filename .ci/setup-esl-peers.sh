#!/usr/bin/env bash
# Independent ESL clients (Python greenswitch and genesis, PyPI) that connect to the
# FreeSWITCH emulator in kontakt-sim's tests/python_peers.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash crates/kontakt-sim/tests/peers/setup.sh target/esl-peers-venv
echo "KONTAKT_PY_PEERS=$(pwd)/target/esl-peers-venv/bin/python"
