#!/usr/bin/env bash
# kiln's speed built with the repository's `release` profile (no LTO, 16
# codegen units, incremental: what `cargo run --release --example …` runs)
# against the `bench` profile (rustc's default thin local LTO: users'
# release builds): the benchmark rows built both ways, run alternately,
# with the ratio. kiln's hot loops must not depend on inlining across
# codegen units (docs/PERFORMANCE.md, "Without LTO"); a ratio far below 1
# shows one that does.
# Usage: scripts/profile_speed.sh [seconds per row]   (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1}"
benches=(--bench mlp --bench text --bench cnn --bench int8)
build() { # $1 = profile; prints the bench executables
  cargo bench -q --no-run --profile "$1" "${benches[@]}" --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*"' | cut -d'"' -f4
}
off=$(build release)
thin=$(build bench)
# The first figure a row prints, or (a row ending in `@name`) the figure of its line `name`.
value() { grep -v '^#' | grep -- "^${1:-}" | grep -o ' [0-9.]* \(samples/s\|us\)' | head -1 | awk '{print $1}'; }
printf '%-36s %14s %14s %7s\n' row "release" "bench" "ratio"
for row in "mlp --only train" "mlp --only one" "mlp --only b1024" "text --batch 64" "text --infer-only" "cnn --train-only" \
  "cnn --infer-only" "int8 --rounds 1 @digits_int8_b1024" "int8 --rounds 1 @mlp_int8_b1024" "int8 --rounds 1 @mlp_int8_one"; do
  line=""; case "$row" in *@*) line=${row##*@}; row=${row% @*} ;; esac
  set -- $row; name=$1; shift
  a=$($(grep "/$name-" <<<"$off") --seconds "$seconds" "$@" 2>&1 | value "$line")
  b=$($(grep "/$name-" <<<"$thin") --seconds "$seconds" "$@" 2>&1 | value "$line")
  row="$row${line:+ @$line}"
  # Throughputs: release / bench; latencies (us): bench / release, so below 1 is slower either way.
  case "$row" in *one*|*infer*) ratio=$(echo "scale=3; $b / $a" | bc) ;; *) ratio=$(echo "scale=3; $a / $b" | bc) ;; esac
  printf '%-36s %14s %14s %7s\n' "$row" "$a" "$b" "$ratio"
done
