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
0 3.90330291 2.84859119
1 3.91943038 2.92559225
2 4.04105744 2.8860668
3 3.84226494 2.86382516
4 4.00938418 2.83856457
EOD
$s1p1 << EOD
# after o_in
0 6.78882419 4.35726538
1 6.79984797 5.30597229
2 6.91998155 4.68701644
3 7.53168841 5.05135443
4 8.10021047 4.96962152
EOD
$s1p2 << EOD
# after gate_up_in
0 4.09783455 2.90782767
1 4.05304162 2.90182352
2 4.00644706 2.87381937
3 3.88837198 2.85775951
4 3.91957695 2.83683302
EOD
$s1p3 << EOD
# after down_in
0 8.83241709 9.91044759
1 6.74632232 6.96040268
2 8.76298715 8.08328263
3 9.84360963 8.52464027
4 7.40136279 5.91831115
EOD
$s1p4 << EOD
# after classifier_in
5 4.15344673 2.81021343
EOD
$s1p5 << EOD
# after k
0 4.07766983 2.8043055
1 3.16227207 2.25359469
2 4.2556365 3.29391562
3 3.92387279 2.61072213
4 4.48379403 3.28973139
EOD
$s1p6 << EOD
# after v
0 3.71758297 3.30095147
1 4.17333223 3.04843771
2 5.1286051 3.8533653
3 5.91371921 3.43124302
4 5.41950768 3.60190776
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
