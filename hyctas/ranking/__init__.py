"""Does the supernet rank architectures the way stand-alone training does? (stage rank_check)

* `pick`: N random architectures spread over the branch counts and the predicted-latency
  range, the same for one seed;
* `correlation`: Kendall tau, its "sparse" variant and Spearman rho of two score lists;
* `run`: each architecture scored with inherited weights exactly as the search scores it,
  trained from scratch with the retrain recipe and evaluated on val, resumably, one run
  after another.
"""
