#!/usr/bin/env bash
# Side-by-side speed against llama.cpp on this machine: for each model, one
# `ainative bench` and one `llama-bench` call with the same prompt length,
# decode steps, repetitions and threads, one after the other, with the
# read bandwidth of ../shared/testdata/bench/stream.c measured before and
# after. Prints a Markdown table (tokens/s, ratio ours / llama.cpp) and,
# with --parallel, the aggregate decode of 1, 4, 8 and 16 sequences from
# `ainative bench --parallel` and `llama-batched-bench`.
#
#   LLAMA_BENCH=/path/to/llama-bench scripts/sidebyside.sh [-p 512] [-n 128] [-r 3] [-t 2] [--parallel] MODEL.gguf...
#
# llama.cpp is not a dependency of the project: build it yourself
# (cmake -B build -DGGML_NATIVE=ON && cmake --build build --target
# llama-bench llama-batched-bench) and point LLAMA_BENCH at the binary;
# llama-batched-bench is looked for next to it. AINATIVE defaults to
# bin/ainative, AINATIVE_TESTDATA to ../shared/testdata; AINATIVE_ARGS
# adds flags to every `ainative bench` (e.g. --repack). Needs python3 (to
# read both tools' JSON) and, for the bandwidth probe, gcc with OpenMP.
set -euo pipefail
cd "$(dirname "$0")/.."

p=512 n=128 r=3 t=2 parallel=0
models=()
while [ $# -gt 0 ]; do
	case "$1" in
	-p) p=$2; shift 2 ;;
	-n) n=$2; shift 2 ;;
	-r) r=$2; shift 2 ;;
	-t) t=$2; shift 2 ;;
	--parallel) parallel=1; shift ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "sidebyside: unknown flag $1" >&2; exit 2 ;;
	*) models+=("$1"); shift ;;
	esac
done
[ ${#models[@]} -gt 0 ] || { echo "sidebyside: no model given (see --help)" >&2; exit 2; }
lb=${LLAMA_BENCH:?set LLAMA_BENCH to a llama-bench binary}
[ -x "$lb" ] || { echo "sidebyside: LLAMA_BENCH=$lb is not executable" >&2; exit 2; }
ain=${AINATIVE:-bin/ainative}
[ -x "$ain" ] || { echo "sidebyside: $ain not found: run scripts/setup.sh or set AINATIVE" >&2; exit 2; }
command -v python3 >/dev/null || { echo "sidebyside: python3 is needed to read the JSON" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
td=${AINATIVE_TESTDATA:-../shared/testdata}
stream() {
	if [ ! -x "$tmp/stream" ]; then
		gcc -O3 -march=native -fopenmp -o "$tmp/stream" "$td/bench/stream.c" 2>/dev/null ||
			{ echo "n/a (could not build $td/bench/stream.c)"; return; }
	fi
	OMP_NUM_THREADS=$t "$tmp/stream" | python3 -c 'import json,sys; print("%.1f GB/s" % json.loads(sys.stdin.read())["read_gbs"])'
}

# warm reads a model file through the page cache before each engine's run,
# so that neither pays for reading it from disk where the page cache has
# dropped it (this project's machine keeps only a few GB of files cached).
warm() { cat "$1" >/dev/null; }

echo "stream.c read bandwidth before: $(stream)"
echo
echo "| model | pp$p ours | pp$p llama.cpp | ratio | tg$n ours | tg$n llama.cpp | ratio |"
echo "|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
	warm "$m"
	"$ain" bench --model "$m" -t "$t" -p "$p" -n "$n" -r "$r" --json --no-bandwidth ${AINATIVE_ARGS:-} >"$tmp/ours.json"
	warm "$m"
	"$lb" -m "$m" -t "$t" -p "$p" -n "$n" -r "$r" -o jsonl >"$tmp/llama.jsonl" 2>/dev/null
	python3 - "$m" "$tmp/ours.json" "$tmp/llama.jsonl" <<'EOF'
import json, os, sys
name, ours, llama = sys.argv[1:]
o = json.loads(open(ours).readline())
pp = tg = 0.0
for line in open(llama):
    if line.strip():
        d = json.loads(line)
        if d["n_prompt"] > 0 and d["n_gen"] == 0:
            pp = d["avg_ts"]
        if d["n_gen"] > 0 and d["n_prompt"] == 0:
            tg = d["avg_ts"]
def ratio(a, b):
    return "%.2fx" % (a / b) if a and b else "-"
op, ot = o.get("pp_tok_s", 0), o.get("tg_tok_s", 0)
print("| %s | %.1f | %.1f | %s | %.1f | %.1f | %s |" % (os.path.basename(name), op, pp, ratio(op, pp), ot, tg, ratio(ot, tg)))
EOF
done
echo
echo "stream.c read bandwidth after: $(stream)"

if [ "$parallel" = 1 ]; then
	lbb=$(dirname "$lb")/llama-batched-bench
	[ -x "$lbb" ] || { echo "sidebyside: $lbb not found for --parallel" >&2; exit 2; }
	for m in "${models[@]}"; do
		echo
		warm "$m"
		echo "$(basename "$m"): aggregate decode tok/s, -p 64 -n 128 per sequence"
		"$ain" bench --model "$m" -t "$t" --parallel 1,4,8,16 -p 64 -n 128 -r 1 --json --no-bandwidth ${AINATIVE_ARGS:-} >"$tmp/ours.json"
		"$lbb" -m "$m" -t "$t" -c 4096 -npp 64 -ntg 128 -npl 1,4,8,16 --output-format jsonl >"$tmp/llama.jsonl" 2>/dev/null
		python3 - "$tmp/ours.json" "$tmp/llama.jsonl" <<'EOF'
import json, sys
ours = {d["parallel"]: d for d in map(json.loads, filter(str.strip, open(sys.argv[1])))}
llama = {}
for line in open(sys.argv[2]):
    if line.strip().startswith("{"):
        d = json.loads(line)
        if "pl" in d:
            llama[d["pl"]] = d
print("| sequences | ours | scaling | llama.cpp | scaling | ratio |")
print("|---|---|---|---|---|---|")
o1, l1 = ours[1]["tg_tok_s"], llama[1]["speed_tg"]
for k in (1, 4, 8, 16):
    o, l = ours[k]["tg_tok_s"], llama[k]["speed_tg"]
    print("| %d | %.1f | %.2fx | %.1f | %.2fx | %.2fx |" % (k, o, o / o1, l, l / l1, o / l))
EOF
	done
fi
