"""Does the supernet rank architectures the way stand-alone training does? (stage rank_check)

* `pick`: N random architectures spread over the branch counts and the predicted-latency
  range, the same for one seed;
* `correlation`: Kendall tau, its "sparse" variant and Spearman rho of two score lists;
* `standalone`: one architecture trained from scratch with the retrain recipe and evaluated
  on val, resumably, its result cached under a fingerprint of that code only;
* `run`: each architecture scored with inherited weights exactly as the search scores it,
  then its stand-alone runs, one after another, and the metrics comparing the two.
"""
