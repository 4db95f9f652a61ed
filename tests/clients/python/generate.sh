#!/usr/bin/env bash
# Generates the Python messages and gRPC stubs for roster.v1 from the repo's
# proto/ into gen/ beside this script (gitignored). Run it with the Python
# that has requirements.txt installed (or set PYTHON=/path/to/python).
#   pip install -r requirements.txt && ./generate.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto_root=$(cd "$here/../../../proto" && pwd)
out="$here/gen"
python=${PYTHON:-python}

rm -rf "$out"
mkdir -p "$out"
# google/protobuf/*.proto (timestamp) come with grpcio-tools: `python -m
# grpc_tools.protoc` adds its bundled include directory by itself.
"$python" -m grpc_tools.protoc \
  -I "$proto_root" \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  "$proto_root"/roster/v1/*.proto
echo "generated $(find "$out" -name '*.py' | wc -l) Python modules in $out"
