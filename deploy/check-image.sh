#!/usr/bin/env bash
# Checks the container image as far as a machine without a Docker engine can:
#   1. the paths the Dockerfile copies from the build context exist,
#   2. the Dockerfile's restore and publish commands work here (same flags, output to a temp dir),
#   3. the published output holds the server, its runtime config and ONNX Runtime's CPU and CUDA natives,
#   4. with a Docker engine present, both variants build (docker build --target cpu|gpu).
# Usage: bash deploy/check-image.sh [--keep]   (--keep leaves the publish output in place)
set -euo pipefail
cd "$(dirname "$0")/.."

keep=false
[ "${1:-}" = "--keep" ] && keep=true
fail() { echo "check-image: $*" >&2; exit 1; }

# Join continuation lines so every instruction is one line.
dockerfile=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' Dockerfile)

echo "1. context paths the Dockerfile copies"
missing=0
while read -r sources; do
  for src in $sources; do
    if [ -e "$src" ]; then echo "   ok  $src"; else echo "   MISSING  $src"; missing=1; fi
  done
done < <(grep -E '^COPY ' <<<"$dockerfile" | grep -v -- '--from=' | awk '{ $1=""; $NF=""; print }')
# Keep going: the publish check is worth its result even while the model is still missing.
[ "$missing" = 0 ] || echo "   (models/default is committed by training + export; the image cannot be built without it)"

echo "2. restore and publish as the build stage runs them"
restore=$(grep -E '^RUN dotnet restore ' <<<"$dockerfile" | head -1 | sed 's/^RUN //')
publish=$(grep -E '^RUN dotnet publish ' <<<"$dockerfile" | head -1 | sed 's/^RUN //')
[ -n "$restore" ] && [ -n "$publish" ] || fail "no dotnet restore/publish in the Dockerfile"
out=$(mktemp -d)
$keep || trap 'rm -rf "$out" "$out.log"' EXIT
publish=${publish/-o \/app/-o $out}
log="$out.log"
run() { echo "   \$ $*"; "$@" >"$log" 2>&1 || { tail -30 "$log" >&2; fail "'$*' failed"; }; }
run $restore
run $publish

echo "3. published output ($out)"
for f in MoeServe.Server.dll MoeServe.Server.runtimeconfig.json libonnxruntime.so libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
  [ -e "$out/$f" ] || fail "publish output lacks $f"
  echo "   ok  $f"
done
entry=$(grep -E '^ENTRYPOINT ' <<<"$dockerfile" | head -1)
[[ "$entry" == *'"MoeServe.Server.dll"'* ]] || fail "ENTRYPOINT does not run MoeServe.Server.dll"
echo "   size: $(du -sh "$out" | cut -f1)"

echo "4. docker build"
if docker info >/dev/null 2>&1; then
  docker build --target cpu -t moeserve:cpu .
  docker build --target gpu -t moeserve:gpu .
else
  echo "   no Docker engine here: not built (run this script where one runs)"
fi
[ "$missing" = 0 ] || fail "some COPY sources are missing (see step 1)"
echo "check-image: OK"
