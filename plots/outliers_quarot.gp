# rotbench stats: max|x| / rms(x) of the quantizer inputs per layer and point
# max|x| / rms(x) at the quantizer inputs, stories260K
# before: outliers:count=4:scale=20:ffn=1:seed=0
# after: outliers:count=4:scale=20:ffn=1:seed=0,quarot:rotation=random_hadamard:seed=-1:online=1:r3=1:r4=1:heads=1
# Re-render: gnuplot outliers_quarot.gp  (writes outliers_quarot.png and outliers_quarot.svg in the current directory)
# Data block columns: layer (5 = classifier input), max_over_rms, kurtosis

$s0p0 << EOD
# before qkv_in
0 15.0036671 35.9641728
1 12.9354595 39.749147
2 17.0000006 41.1257226
3 18.7035369 45.1612628
4 17.9354913 46.6698421
EOD
$s0p1 << EOD
# before o_in
0 5.07253584 4.44502886
1 5.522996 4.40353048
2 7.25638677 5.39213458
3 7.87579994 4.60109271
4 9.16197177 5.33824994
EOD
$s0p2 << EOD
# before gate_up_in
0 15.1901504 38.1829823
1 15.0545718 42.4109953
2 16.409662 43.6958722
3 16.8400288 46.1045516
4 15.7107141 43.3692386
EOD
$s0p3 << EOD
# before down_in
0 98.0718854 1386.23879
1 70.9438534 722.138522
2 90.3273377 961.584421
3 92.3278697 856.089818
4 83.7324064 611.988232
EOD
$s0p4 << EOD
# before classifier_in
5 9.37981163 9.67139514
EOD
$s0p5 << EOD
# before k
0 4.6118922 7.02405698
1 4.34919084 5.4369753
2 5.849453 6.65490886
3 5.39733977 6.17794634
4 5.89206153 7.98015428
EOD
$s0p6 << EOD
# before v
0 3.888098 3.50638177
1 4.20657126 3.22032601
2 5.05820597 3.72333833
3 5.42497785 3.44744509
4 5.22506615 3.56764507
EOD
$s1p0 << EOD
# after qkv_in
0 3.54131184 2.9502045
1 3.98627897 2.90245019
2 4.26018527 2.88046203
3 4.80271274 2.86464678
4 4.03060971 2.86093667
EOD
$s1p1 << EOD
# after o_in
0 5.97411363 4.23931257
1 6.25415465 5.48959591
2 8.09476411 4.62935526
3 7.32652655 5.06025346
4 8.7690984 5.05058292
EOD
$s1p2 << EOD
# after gate_up_in
0 4.25542521 2.88481635
1 4.10655635 2.87494072
2 4.40589283 2.85422715
3 4.46677633 2.84978665
4 4.31291919 2.85922609
EOD
$s1p3 << EOD
# after down_in
0 8.83241609 9.91044866
1 6.74632997 6.96040208
2 8.76298788 8.08328046
3 9.84361294 8.5246403
4 7.40135829 5.91830911
EOD
$s1p4 << EOD
# after classifier_in
5 4.26143101 2.82092131
EOD
$s1p5 << EOD
# after k
0 4.07766962 2.8043055
1 3.16227099 2.2535946
2 4.25563732 3.29391567
3 3.92387632 2.61072215
4 4.48379318 3.28973147
EOD
$s1p6 << EOD
# after v
0 3.9206877 3.23381738
1 4.16733533 3.05175694
2 5.18483126 3.90051079
3 6.11702956 3.44613313
4 5.23757051 3.64635395
EOD

set encoding utf8
set title "max|x| / rms(x) at the quantizer inputs, stories260K\nbefore: outliers:count=4:scale=20:ffn=1:seed=0\nafter: outliers:count=4:scale=20:ffn=1:seed=0,quarot:rotation=random_hadamard:seed=-1:online=1:r3=1:r4=1:heads=1"
set xlabel "layer"
set ylabel "max|x| / rms(x)"
set logscale y
set grid
set key outside right top
set xrange [-0.5:5.5]
set xtics ("0" 0, "1" 1, "2" 2, "3" 3, "4" 4, "cls" 5)
set terminal pngcairo size 1100,650 font "sans,11" noenhanced
set output "outliers_quarot.png"
plot $s0p0 using 1:2 with linespoints lc rgb "#9400d3" dt 2 pt 6 ps 0.9 lw 2 title "qkv_in before", \
     $s1p0 using 1:2 with linespoints lc rgb "#9400d3" dt 1 pt 7 ps 0.9 lw 2 title "qkv_in after", \
     $s0p1 using 1:2 with linespoints lc rgb "#009e73" dt 2 pt 6 ps 0.9 lw 2 title "o_in before", \
     $s1p1 using 1:2 with linespoints lc rgb "#009e73" dt 1 pt 7 ps 0.9 lw 2 title "o_in after", \
     $s0p2 using 1:2 with linespoints lc rgb "#56b4e9" dt 2 pt 6 ps 0.9 lw 2 title "gate_up_in before", \
     $s1p2 using 1:2 with linespoints lc rgb "#56b4e9" dt 1 pt 7 ps 0.9 lw 2 title "gate_up_in after", \
     $s0p3 using 1:2 with linespoints lc rgb "#e69f00" dt 2 pt 6 ps 0.9 lw 2 title "down_in before", \
     $s1p3 using 1:2 with linespoints lc rgb "#e69f00" dt 1 pt 7 ps 0.9 lw 2 title "down_in after", \
     $s0p4 using 1:2 with linespoints lc rgb "#000000" dt 2 pt 6 ps 0.9 lw 2 title "classifier_in before", \
     $s1p4 using 1:2 with linespoints lc rgb "#000000" dt 1 pt 7 ps 0.9 lw 2 title "classifier_in after", \
     $s0p5 using 1:2 with linespoints lc rgb "#0072b2" dt 2 pt 6 ps 0.9 lw 2 title "k before", \
     $s1p5 using 1:2 with linespoints lc rgb "#0072b2" dt 1 pt 7 ps 0.9 lw 2 title "k after", \
     $s0p6 using 1:2 with linespoints lc rgb "#d55e00" dt 2 pt 6 ps 0.9 lw 2 title "v before", \
     $s1p6 using 1:2 with linespoints lc rgb "#d55e00" dt 1 pt 7 ps 0.9 lw 2 title "v after"
set terminal svg size 1100,650 dynamic font "sans,11" noenhanced
set output "outliers_quarot.svg"
replot
set output
