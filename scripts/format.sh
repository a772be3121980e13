#!/usr/bin/env bash
# format.sh: clang-format (.clang-format) over the C++ of src/, tests/, bench/ and python/.
#   scripts/format.sh          formats the files in place
#   scripts/format.sh --check  lists the files that differ and exits 1 when there are any
# The generated Unicode tables (src/*/unicode_tables_data.cpp) are data and are left as written.
set -euo pipefail
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" > /dev/null || { echo "format.sh: $CF not found (apt-get install clang-format)" >&2; exit 2; }
mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' 'bench/*.h' \
  'python/*.cpp' 'python/*.h' | grep -v 'unicode_tables_data\.cpp$')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$CF" --style=file "$f" | cmp -s - "$f"; then echo "not formatted: $f"; bad=1; fi
  done
  exit $bad
fi
"$CF" -i --style=file "${files[@]}"
