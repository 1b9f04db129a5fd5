set terminal pngcairo size 1400,700 noenhanced font ",10"
set output 'ratios.png'
set title "peer cycles / slabd cycles, medians of 7 rounds (above 1: slabd is faster); run of 2026-11-23 03:12:29 UTC, load average at start: 0.63 1.58 2.09"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.125:32]
set ytics ("1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "1.25" 1.25, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32)
set grid ytics
set xtics rotate by -35
set key outside right top
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
set arrow from graph 0, first 1.25 to graph 1, first 1.25 nohead dt 2 lc rgb "red"
plot 'ratios.dat' using 2:xtic(1) title 'glibc', '' using 3 title 'jemalloc', '' using 4 title 'tcmalloc', '' using 5 title 'tcmalloc_minimal', '' using 6 title 'mimalloc', '' using 7 title 'dpdk'
