#!/usr/bin/env bash
# Measures the two build times of issue 9 in a private target directory:
#   1. a clean `cargo build --release --example text_classifier`
#      (dependencies already downloaded: run once with network first);
#   2. an edit-and-rebuild: the model edited (its LSTM's units 64 <-> 65,
#      a real change: cargo compares file contents, so `touch` alone would
#      rebuild nothing), built again: the model! is expanded and the
#      example recompiled and linked. The file is restored on exit.
# Usage: scripts/build_times.sh [runs] [--against REV]
#   runs: default 3; prints each run and the median.
#   --against REV: also a clean build of revision REV (a git worktree in
#   the target directory) before each run's, and the ratio of the two
#   wall times: the figure that carries across machines, whose speeds
#   differ by 2x (issue 9's 25.5 s was measured at c5a3e45).
# Wall times mean something only on an otherwise idle machine (the load
# average is printed too); CPU time (user + system, all of cargo's
# children) depends much less on other work and compares two versions
# fairly on a busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
against=""
if [ "${2:-}" = "--against" ]; then against="${3:?--against needs a revision}"; fi
target="${CARGO_TARGET_DIR_BUILD_TIMES:-target/build-times}"
export CARGO_TARGET_DIR="$target"
cargo fetch --quiet

seconds() { # runs "$@", prints "wall cpu": wall-clock and user+system seconds (children included)
  local start end cpu
  start=$(date +%s.%N)
  cpu=$( { TIMEFORMAT='%U %S'; time "$@" >/dev/null 2>&1; } 2>&1 | awk '{print $1 + $2}')
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) $cpu"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

example=examples/text_classifier.rs
backup=$(mktemp)
cp "$example" "$backup"
trap 'cp "$backup" "$example"; rm -f "$backup"' EXIT
edit() { # toggles the LSTM's units between 64 and 65
  if grep -q 'LSTM(64)' "$example"; then sed -i 's/LSTM(64)/LSTM(65)/' "$example"; else sed -i 's/LSTM(65)/LSTM(64)/' "$example"; fi
}

clean=(); rebuild=(); old=(); ratios=()
if [ -n "$against" ]; then
  old_tree="$(pwd)/$target-against"
  rm -rf "$old_tree"; git worktree prune
  git worktree add --detach --force "$old_tree" "$against" >/dev/null
  trap 'cp "$backup" "$example"; rm -f "$backup"; git worktree remove --force "$old_tree"' EXIT
  (cd "$old_tree" && cargo fetch --quiet)
fi
for i in $(seq "$runs"); do
  if [ -n "$against" ]; then
    old_target="$(pwd)/$target-old"
    rm -rf "$old_target"
    old+=("$(cd "$old_tree" && export CARGO_TARGET_DIR="$old_target" && seconds cargo build --release --example text_classifier)")
  fi
  rm -rf "$target"
  clean+=("$(seconds cargo build --release --example text_classifier)")
  if [ -n "$against" ]; then
    ratios+=("$(echo "scale=3; ${clean[-1]% *} / ${old[-1]% *}" | bc)")
    echo "run $i: $against clean ${old[-1]% *} s wall (${old[-1]#* } s CPU); ratio ${ratios[-1]}"
  fi
  edit
  rebuild+=("$(seconds cargo build --release --example text_classifier)")
  echo "run $i: clean ${clean[-1]% *} s wall (${clean[-1]#* } s CPU), edit-and-rebuild ${rebuild[-1]% *} s wall (${rebuild[-1]#* } s CPU)"
done
wall() { for r in "$@"; do echo "${r% *}"; done | median; }
cpu() { for r in "$@"; do echo "${r#* }"; done | median; }
echo "median clean build:        $(wall "${clean[@]}") s wall, $(cpu "${clean[@]}") s CPU"
echo "median edit-and-rebuild:   $(wall "${rebuild[@]}") s wall, $(cpu "${rebuild[@]}") s CPU"
if [ -n "$against" ]; then
  echo "median clean build of $against: $(wall "${old[@]}") s wall, $(cpu "${old[@]}") s CPU"
  echo "median ratio (this tree / $against): $(printf '%s\n' "${ratios[@]}" | median)"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
# The macro's own speed: expansion of a 50-layer model (issue 9: < 50 ms).
CARGO_TARGET_DIR="$target" cargo test --quiet --release -p kiln-macros expansion_of_a_50_layer_model -- --ignored --nocapture 2>&1 \
  | grep "expanded in"
