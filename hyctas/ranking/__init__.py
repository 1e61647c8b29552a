"""Supernet ranking against stand-alone training (stage rank_check): see `hyctas.ranking.run`.

Kept to this line: every stand-alone run's fingerprint holds this file (a parent package of
`hyctas.ranking.standalone`), so editing it would retrain them all.
"""
