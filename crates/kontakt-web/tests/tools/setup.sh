#!/usr/bin/env sh
# Makes a Python venv with openapi-spec-validator for the OpenAPI test of kontakt-web.
#
#   crates/kontakt-web/tests/tools/setup.sh [venv-dir]     (default: target/openapi-venv)
#   KONTAKT_OPENAPI_VALIDATOR=<venv-dir>/bin/python cargo test -p kontakt-web --test api openapi
#
# Without KONTAKT_OPENAPI_VALIDATOR the test checks the document's structure itself and skips
# only the external validator.
set -eu
venv="${1:-target/openapi-venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'openapi-spec-validator>=0.7,<0.8'
"$venv/bin/python" -c 'import openapi_spec_validator' >/dev/null
echo "export KONTAKT_OPENAPI_VALIDATOR=$(cd "$venv" && pwd)/bin/python"
