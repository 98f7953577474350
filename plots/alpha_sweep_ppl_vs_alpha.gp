# rotbench plot: alpha_sweep: ppl vs alpha
# metric ppl, x axis alpha, one line per model; from results/alpha_sweep.jsonl
# Re-render: gnuplot alpha_sweep_ppl_vs_alpha.gp  (writes alpha_sweep_ppl_vs_alpha.png and alpha_sweep_ppl_vs_alpha.svg in the current directory)
# Data block columns: x, mean, std (0 when n = 1), n

$d1 << EOD
# stories260K
0 127.9385596 0 1
0.1 128.8087033 0 1
0.2 127.2468609 0 1
0.3 128.5865465 0 1
0.4 127.1423558 0 1
0.5 127.5354132 0 1
0.6 126.4863739 0 1
0.7 126.6013851 0 1
0.8 126.5915906 0 1
0.9 127.1910707 0 1
1 124.8607653 0 1
EOD

$d2 << EOD
# stories260K+outliers
0 289.7590616 0 1
0.1 302.7232353 0 1
0.2 300.1742816 0 1
0.3 306.7776233 0 1
0.4 306.2051746 0 1
0.5 291.7288171 0 1
0.6 288.3628164 0 1
0.7 292.472216 0 1
0.8 298.4276199 0 1
0.9 325.163659 0 1
1 340.1607635 0 1
EOD

set encoding utf8
set title "alpha_sweep: ppl vs alpha"
set xlabel "alpha"
set ylabel "ppl"
set grid
set key outside right top
set logscale y
set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06
set xtics ("0.0" 0, "0.1" 0.1, "0.2" 0.2, "0.3" 0.3, "0.4" 0.4, "0.5" 0.5, "0.6" 0.6, "0.7" 0.7, "0.8" 0.8, "0.9" 0.9, "1.0" 1)
set terminal pngcairo size 960,600 font "sans,11" noenhanced
set output "alpha_sweep_ppl_vs_alpha.png"
plot $d1 using 1:2 with linespoints lw 2 pt 7 ps 0.9 title "stories260K", \
     $d2 using 1:2 with linespoints lw 2 pt 7 ps 0.9 title "stories260K+outliers"
set terminal svg size 960,600 dynamic font "sans,11" noenhanced
set output "alpha_sweep_ppl_vs_alpha.svg"
replot
set output
