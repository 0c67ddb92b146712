# Sourced by scripts/checkov and scripts/sam-build: `tool_venv NAME` makes .venv-NAME with
# the pin [tool.tpm.tools].NAME from pyproject.toml (reinstalled only when the pin changes)
# and prints its bin directory. These tools pin their own boto3/pydantic, so they cannot
# live in .venv beside the product.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

tool_venv() {
  local name="$1" pin venv
  pin="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["tool"]["tpm"]["tools"][sys.argv[2]])' "$root/pyproject.toml" "$name")"
  venv="$root/.venv-$name"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if [ "$(cat "$venv/.pin" 2>/dev/null)" != "$pin" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" >"$venv/.install.log" 2>&1 \
      || { cat "$venv/.install.log" >&2; return 1; }
    echo "$pin" > "$venv/.pin"
  fi
  echo "$venv/bin"
}
