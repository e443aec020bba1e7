# Shared by the bench/ scripts (sourced, not run).

# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Reads `wrk --latency` output on stdin and prints "p50_us p99_us requests_per_second";
# non-2xx responses are reported on stderr.
wrk_stats() {
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
      if (v ~ /s$/) return v * 1000000; return v + 0 }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
    $1 == "Requests/sec:" { rps = $2 }
    $0 ~ /Non-2xx/ { bad = 1 }
    END { if (bad) print "error: non-2xx responses" > "/dev/stderr"; printf "%.1f %.1f %.0f\n", p50, p99, rps }'
}
