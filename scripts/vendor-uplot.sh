#!/usr/bin/env bash
# Refresh the vendored uPlot copy used by the routewise dashboard.
# Fetches the pinned npm package `uplot` with `npm pack` and copies the IIFE build,
# its stylesheet and its licence into crates/gateway/assets/dashboard/.
# To upgrade: change UPLOT_VERSION, run this script, and update the version comment
# at the top of crates/gateway/assets/dashboard/index.html.
set -euo pipefail

UPLOT_VERSION="${UPLOT_VERSION:-1.6.32}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/crates/gateway/assets/dashboard"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null)
tar -xzf "$work/uplot-${UPLOT_VERSION}.tgz" -C "$work"

mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
cp "$work/package/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$work/package/LICENSE" "$dest/uPlot.LICENSE"

echo "vendored uPlot ${UPLOT_VERSION} into ${dest#"$root"/}"
