#!/usr/bin/env bash
# gpu_kit.sh: (re)creates .gpu/, the dependency kit that scripts/gpu_check.sh uses on a GPU
# machine that has PyTorch, CUDA, CMake and ninja but none of our Debian dev packages and no
# network. Run it here, on the Debian 12 development machine (apt-get download, no install).
#
#   .gpu/root/usr/...   Debian 12 packages unpacked with dpkg -x (headers, CMake configs, .so);
#                       .pc files made relocatable (prefix=${pcfiledir}/...), absolute links fixed
#   .gpu/root/fallback/ libssl3, libcrypto3, libbrotli (needed only by libcpp-httplib, at link
#                       and run time); gpu_check.sh puts on LD_LIBRARY_PATH only the ones the
#                       machine lacks
#   .gpu/bin/pkg-config a wrapper around the kit's pkgconf (for a machine without pkg-config)
#   .gpu/data/          the training text (../shared does not travel)
#   .gpu/uplot/dist/    uPlot, embedded into the dashboard library (node_modules does not travel)
#   .gpu/MANIFEST       the package versions
#
# .gpu/ is ignored through .git/info/exclude and travels as a `carry` path of the device tool.
set -euo pipefail
cd "$(dirname "$0")/.."

KIT=.gpu
TEXT=${MOESCOPE_GPU_TEXT:-../shared/data/tinyshakespeare.txt}
# What the CMake configure of the moescope binary + the torch test binaries needs (find_package,
# pkg_check_modules, find_library / find_path; the CLI11 headers), plus the runtime libraries of
# the compiled ones. Not needed there: Google Benchmark (-DMOESCOPE_BENCH=OFF), gmock (unused).
PKGS=(
  nlohmann-json3-dev
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  libtomlplusplus-dev libtomlplusplus3
  libcli11-dev
  libgtest-dev
  libsentencepiece-dev libsentencepiece0
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli1 libssl3
  zlib1g-dev zlib1g
  pkgconf pkgconf-bin libpkgconf3
)
ARCH_LIB=usr/lib/x86_64-linux-gnu

[ -s "$TEXT" ] || { echo "gpu_kit: training text $TEXT is missing (set MOESCOPE_GPU_TEXT)" >&2; exit 1; }
[ -s node_modules/uplot/dist/uPlot.iife.min.js ] || { echo "gpu_kit: node_modules/uplot is missing: run npm ci" >&2; exit 1; }

mkdir -p .git/info
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude

rm -rf "$KIT"
mkdir -p "$KIT/debs" "$KIT/root" "$KIT/data" "$KIT/bin" "$KIT/uplot/dist"
(cd "$KIT/debs" && apt-get download "${PKGS[@]}")
: > "$KIT/MANIFEST"
for f in "$KIT"/debs/*.deb; do
  dpkg-deb -x "$f" "$KIT/root"
  dpkg-deb -W --showformat='${Package} ${Version}\n' "$f" >> "$KIT/MANIFEST"
done
rm -rf "$KIT/debs"

R=$KIT/root
# Not needed: documentation, lintian overrides, the gtest source link, OpenSSL engines/providers.
rm -rf "$R"/usr/share/{doc,man,lintian,aclocal,bug} "$R"/usr/src \
       "$R/$ARCH_LIB"/{engines-3,ossl-modules}
# Debian 12 still ships a few libraries under /lib: merge them into usr/lib.
if [ -d "$R/lib" ]; then
  cp -a "$R"/lib/. "$R"/usr/lib/
  rm -rf "${R:?}/lib"
fi
# Absolute symlinks (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) would point out of the kit.
while IFS= read -r link; do
  target=$(readlink "$link")
  base=$(basename "$target")
  [ -e "$(dirname "$link")/$base" ] || { echo "gpu_kit: cannot fix link $link -> $target" >&2; exit 1; }
  ln -sfn "$base" "$link"
done < <(find "$R" -type l -lname '/*')
# Libraries only libcpp-httplib needs (the GPU image most likely has its own copies).
mkdir -p "$R/fallback"
for pat in 'libssl.so.*' 'libcrypto.so.*' 'libbrotli*.so.*'; do
  find "$R/$ARCH_LIB" -maxdepth 1 -name "$pat" -exec mv {} "$R/fallback/" \;
done
# .pc files: prefix=/usr -> relative to the .pc file, so the kit works wherever it lands.
while IFS= read -r pc; do
  rel=$(realpath --relative-to="$(dirname "$pc")" "$R/usr")
  sed -i -E "s#^([A-Za-z_]+)=/usr(/|\$)#\\1=\${pcfiledir}/$rel\\2#" "$pc"
done < <(find "$R" -name '*.pc')

cat > "$KIT/bin/pkg-config" <<'EOF'
#!/bin/sh
# pkg-config for a machine without one: the kit's pkgconf, with its library.
kit=$(cd "$(dirname "$0")/.." && pwd)
LD_LIBRARY_PATH="$kit/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$kit/root/usr/bin/pkgconf" "$@"
EOF
chmod +x "$KIT/bin/pkg-config"

cp "$TEXT" "$KIT/data/tinyshakespeare.txt"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$KIT/uplot/dist/"

echo "gpu_kit: $(du -sh "$KIT" | cut -f1) in $KIT ($(wc -l < "$KIT/MANIFEST") packages)"
