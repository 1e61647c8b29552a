"""Networks built from architectures: op registry, stand-alone network, supernet, cost model."""

from hyctas.models.cost import arch_cost
from hyctas.models.network import InputSizeError, SegNet
from hyctas.models.ops import OPS, create_op, register_op
from hyctas.models.supernet import Supernet

__all__ = ["OPS", "InputSizeError", "SegNet", "Supernet", "arch_cost", "create_op", "register_op"]
