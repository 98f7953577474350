# rotbench plot: ResQ W4A4KV4: perplexity vs the share of channels at 8 bits (wikitext2)
# metric ppl, x axis fraction, one line per model; from results/resq_fraction.jsonl
# mean ± sample std over seed
# Re-render: gnuplot resq_fraction_ppl_vs_fraction.gp  (writes resq_fraction_ppl_vs_fraction.png and resq_fraction_ppl_vs_fraction.svg in the current directory)
# Data block columns: x, mean, std (0 when n = 1), n

$d1 << EOD
# stories260K
0 202.0466665 15.8827225 5
0.0625 165.7246862 14.87783191 5
0.125 146.7709123 7.470835124 5
0.25 151.3630371 8.109092799 5
EOD

$d2 << EOD
# stories260K+outliers
0 326.6372482 45.14217408 5
0.0625 258.624738 35.73585549 5
0.125 236.8409716 35.82139954 5
0.25 249.3642665 50.27787762 5
EOD

set encoding utf8
set title "ResQ W4A4KV4: perplexity vs the share of channels at 8 bits (wikitext2)"
set xlabel "fraction"
set ylabel "ppl"
set grid
set key outside right top
set logscale y
set xrange [-0.0125:0.2625]
set xtics ("0" 0, "0.0625" 0.0625, "0.125" 0.125, "0.25" 0.25)
set terminal pngcairo size 960,600 font "sans,11" noenhanced
set output "resq_fraction_ppl_vs_fraction.png"
plot $d1 using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.9 title "stories260K", \
     $d2 using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.9 title "stories260K+outliers"
set terminal svg size 960,600 dynamic font "sans,11" noenhanced
set output "resq_fraction_ppl_vs_fraction.svg"
replot
set output
