#!/usr/bin/env bash
# The independent OpenAPI validator (openapi-spec-validator, PyPI) for kontakt-web's API test.
set -euo pipefail
cd "$(dirname "$0")/.."
sh crates/kontakt-web/tests/tools/setup.sh target/openapi-venv
