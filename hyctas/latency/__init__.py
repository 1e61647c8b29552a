"""Latency on the user's device: a per-piece table, a fitted predictor, and its validation.

What is measured (`enumerate`, `keys`, `pieces`): every distinct piece of work an
architecture of the search space can run at the profiled input size: each cell
configuration (op, c_in, c_out, h, w, stride), the stem, the fusion (per set of branch ends
and the channels it reads from them) and the head (per branch count). Keys come from
`build_plan`, the object the network is built from, through small probe architectures, so
they cannot drift from the model; each piece is built with the constructors `SegNet` uses.
The default space (fch 4, depth 2..6, all ops, 3 branches) at 256x512 has 940 keys:
625 cells, 311 fusions, 3 heads, 1 stem.

How (`timing`): `torch.set_num_threads(threads)`, eval mode, `torch.inference_mode`, GC
paused, warm-up runs, then `repeats` interleaved rounds in which every item is timed once
in a shuffled order (on CUDA: device synchronised, then CUDA events around each call,
wall clock required), on the wall clock or on the measuring thread's CPU clock; whole
networks use the same protocol. Pieces and networks run in the block's `RunMode` (dtype,
channels_last, compile; `runmode`), which `evaluate` and the report's paired timing use
too. Each entry keeps median, p10, p90 and min; `statistic` picks the one used.

Prediction (`predictor`): `scale * sum(table entries of the arch's plan) + overhead_ms`;
the plan is a prefix tree, so a cell shared by several branches counts once (it runs
once). `scale` and `overhead_ms` are a least-squares fit on relative errors over random
calibration architectures measured end to end; the validation architectures are other
random architectures (never used in the fit). A key missing from the table raises
`LatencyKeyError`: a table is never completed by measuring on the fly.

Why this protocol (measured on the 2-core shared VM this project is developed on, with
other jobs running; default space, 256x512, batch 1, float32, 30 calibration + 30
validation archs, warm-up 2):
    * one thread: with 2 threads and other programs running, one fusion took 360 ms
      instead of 8 ms (OpenMP workers waiting for a busy core). The stage with 2 threads,
      wall clock, median of 10 rounds: MAPE 18.2 %, Kendall tau 0.76, 7.4 minutes;
    * interleaved rounds: timing each piece in one block let bursts of load inflate some
      entries (plain sum: MAPE 12 %, tau 0.73); interleaving spreads them evenly;
    * `min`: under background load the end-to-end median sat 10-40 % above the minimum
      and moved between passes; the minimum is the device's own speed (one run, 15
      rounds: min/min MAPE 1.5 %, tau 0.97; median/median 4.2 %, tau 0.92);
    * `clock: cpu`: with a load average of 4 the wall-clock minimum still caught waits for
      the core (one run, both clocks: wall 7.3 % / tau 0.84, cpu 3.6 % / tau 0.92). With
      one thread the thread's CPU time equals the wall time on an idle core (seen within
      0.1 ms) and leaves out the time the OS gave the core to others. Use `clock: wall`
      (and `statistic: median` if you want typical rather than best-case latency) on a
      dedicated device, and always on GPUs;
    * the affine correction: the plain sum was 1.6-6 % off (table and networks are timed
      a minute apart); per-branch-count overheads or separate scales for cells, fusion
      and head did no better on the validation archs.
    The default block (1 thread, cpu clock, min of 20 rounds) ran the stage in 116-134 s
    (table 59-63 s, 940 keys): MAPE 1.00-1.41 %, max error 2.4-4.9 %, Kendall tau
    0.972-0.986, scale 1.03-1.06, overhead -0.8 to -0.2 ms.

Example:
    >>> predictor = LatencyPredictor.load("latency_table.csv", "latency_model.json")
    >>> predictor.predict(arch)
"""

from hyctas.latency.enumerate import enumerate_keys
from hyctas.latency.keys import OpKey, arch_keys
from hyctas.latency.predictor import LatencyModel, LatencyPredictor, fit_model
from hyctas.latency.profile import ProfileResult, run_profile
from hyctas.latency.runmode import RunMode
from hyctas.latency.settings import ProfileSettings
from hyctas.latency.table import LatencyKeyError, LatencyTable

__all__ = [
    "LatencyKeyError",
    "LatencyModel",
    "LatencyPredictor",
    "LatencyTable",
    "OpKey",
    "ProfileResult",
    "ProfileSettings",
    "RunMode",
    "arch_keys",
    "enumerate_keys",
    "fit_model",
    "run_profile",
]
