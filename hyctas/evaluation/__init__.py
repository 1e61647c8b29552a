"""Evaluating segmentation networks: one inference routine, metrics, speed, size and plots.

* `inference`: the one test-time inference routine (frames of any size padded to multiples
  of 64 and cropped back; flip, scales, sliding window) that search scoring, `evaluate` and
  `hyctas predict` share;
* `metrics`: the confusion matrix and its IoU by the Cityscapes rule;
* `accuracy`: confusion matrices of a network over frames or the val split, and the
  `evaluate` stage's accuracy metrics;
* `batchnorm`: re-estimating BatchNorm statistics of a sub-network with inherited weights;
* `latency`: measured end-to-end latency with `profile_latency`'s protocol;
* `size`: parameters and MACs;
* `seeds`: a retrained target's further seeds' models, their val mIoU, mean and spread;
* `plots`: the confusion-matrix and overlay PNGs of `evaluate`;
* `predict`: `hyctas predict`, a retrained model (`.pt` or `.onnx`) on a user's images;
* `cityscapes`: cross-check of our mIoU against cityscapesscripts' own evaluation.

This file imports nothing, so a stage depends (`hyctas.provenance`) only on the modules it uses.
"""
