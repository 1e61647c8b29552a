"""Datasets: sources (synthetic, Cityscapes, VOC, folders), class tables, loaders, transforms.

The file lists `prepare_data` writes (hyctas.data.prepare), named by the role of their frames:
"""

TRAIN_LIST = "train.txt"  # the whole training split: retrain trains on it
SUPERNET_TRAIN_LIST = "supernet_train.txt"  # the training split minus the search split
SEARCH_LIST = "search.txt"  # held out of the training split: probes and candidate mIoU
VAL_LIST = "val.txt"  # the validation split: read only by evaluate (and reported)
