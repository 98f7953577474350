# SpinQuant learning curve on stories260K: the W16A4KV4 cross-entropy of each
# Cayley SGD iteration (4 calibration windows of 256 tokens, wikitext2; 32
# windows, so every 8 iterations see each window once) and its mean over
# those 8.  Data: results/spinquant_loss_stories260K.csv, written by
#   ROTBENCH_DATA=/work/shared OMP_NUM_THREADS=1 build/app/rotbench eval --threads 1 \
#     --task tinystories --a-bits 4 --kv-bits 4 \
#     --pipeline "spinquant:iters=100:loss_log=results/spinquant_loss_stories260K.csv"
# Re-render from plots/: gnuplot spinquant_loss.gp (writes spinquant_loss.png and .svg)
set encoding utf8
set datafile separator ","
set title "SpinQuant on stories260K (W16A4KV4, lr 1.5 linear decay, batch 4): calibration loss"
set xlabel "iteration"
set ylabel "cross-entropy (nats)"
set grid
set key below
set terminal pngcairo size 960,600 font "sans,11" noenhanced
set output "spinquant_loss.png"
data = "../results/spinquant_loss_stories260K.csv"
# mean over the 8 iterations that cover all 32 windows once
epoch(i) = int((i - 1) / 8)
plot data using 1:2 every ::1 with linespoints lw 1 pt 7 ps 0.5 title "loss of the iteration's batch", \
     data using (8 * epoch($1) + 4.5):2 every ::1 smooth unique with linespoints lw 2 pt 5 ps 0.9 title "mean over 8 iterations (all windows)"
set terminal svg size 960,600 dynamic font "sans,11" noenhanced
set output "spinquant_loss.svg"
replot
set output
