"""The weight-sharing supernet of a search space.

Weight sharing:
    * One op module per (cell position, input scale, stride, op), built at the widest
      channels that position can see; a sub-network of a narrower width uses the first
      channels of its weights (and of its batch-norm running stats: "sliced BN").
    * `cell_sharing="position"`: branches are not told apart: cell position `l` of any
      branch, at a given input scale, stride and op, uses the same weights. Branches sharing
      a prefix therefore share its cells (computed once, as in `SegNet`), and branches that
      diverged but take the same choice at the same position still share weights. This
      keeps the supernet as large as a single-branch supernet and trains every weight with
      every branch count.
    * `cell_sharing="branch"`: one set of cells per final scale of a branch (a branch's
      final scale is its identity: no two branches of an architecture share one). A cell
      shared by several branches (their common prefix) runs once, with the weights of the
      first of them, the one ending at the finest scale. Diverged branches then never share
      weights, as in a stand-alone network; the supernet holds about twice the cells
      (fewer than twice the parameters: a branch ending at 1/8 has only 1/8 cells).
    * `head_sharing="separate"`: the fusion has one module per set of final scales (its
      inputs differ), the main head one per number of branches (its width is
      `c8 * branches`); each trains only in the steps that draw its sub-networks.
    * `head_sharing="shared"`: one fusion and one main head for every sub-network. The
      fusion is built for every final scale and keeps each branch's input at one place of
      its weights (zeros where a branch is missing); the head is built for the widest
      fused feature and a narrower one uses its first channels. Extraction then copies, for
      those inputs, the weight columns at their places instead of a prefix.
    * The auxiliary heads exist once per scale and the stem once: shared by all.

`extract(arch)` builds the stand-alone `SegNet` and copies, for every tensor of it, the
matching prefix of the supernet tensor (names map one to one; the shared fusion's and head's
placed inputs by their columns), so in eval mode
`supernet.extract(arch)(x)` equals `supernet(x, arch)` up to float rounding.

Example:
    >>> net = Supernet(cfg, num_classes=19, aux=True)
    >>> logits, aux = net(images, arch)          # train mode, one sampled sub-network
    >>> child = net.extract(arch).eval()
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import nn

from hyctas.models.blocks import Fusion, SegHead, Stem
from hyctas.models.network import (
    NetOutput,
    SegNet,
    build_aux_heads,
    fusion_channels,
    run_network,
)
from hyctas.models.ops import create_op
from hyctas.models.plan import Node, Plan, build_plan
from hyctas.space.arch import LAST_WIDTH, MAX_SCALE, Arch
from hyctas.space.config import SpaceConfig

CELL_SHARING = ("position", "branch")
HEAD_SHARING = ("separate", "shared")


def cell_key(index: int, in_scale: int, stride: int, op: str, final: int | None = None) -> str:
    """Supernet module key of a cell: position, input scale, stride and op; with per-branch
    cells (`final` given) prefixed by the final scale of the branch that owns it."""
    key = f"l{index}_s{in_scale}_t{stride}_{op}"
    return key if final is None else f"e{final}_{key}"


def cell_owners(plan: Plan) -> dict[str, int]:
    """Final scale of the branch owning each node: the first branch (finest final scale,
    branches being ordered by it) among those that share the node."""
    owners: dict[str, int] = {}
    for names, end in zip(plan.branches, plan.ends, strict=True):
        for name in names:
            owners.setdefault(name, end.final_scale)
    return owners


def fusion_key(final_scales: tuple[int, ...]) -> str:
    """Supernet module key of the fusion for a set of final scales, e.g. 'f02'."""
    return "f" + "".join(str(s) for s in sorted(final_scales))


class Supernet(nn.Module):
    """Every op of every cell position of the search space (see the module docstring).

    Args:
        cfg: Search space.
        num_classes: Output classes.
        aux: Build the auxiliary heads (they run in training mode only).
        cell_sharing: "position" (one set of cells for every branch) or "branch" (one set
            per final scale); see the module docstring.
        head_sharing: "separate" (a fusion per set of final scales, a head per branch
            count) or "shared" (one of each); see the module docstring.
    """

    def __init__(
        self,
        cfg: SpaceConfig,
        num_classes: int,
        aux: bool = False,
        cell_sharing: str = "position",
        head_sharing: str = "separate",
    ) -> None:
        super().__init__()
        if cell_sharing not in CELL_SHARING:
            raise ValueError(f"cell_sharing {cell_sharing!r} (allowed: {', '.join(CELL_SHARING)})")
        if head_sharing not in HEAD_SHARING:
            raise ValueError(f"head_sharing {head_sharing!r} (allowed: {', '.join(HEAD_SHARING)})")
        self.cfg, self.num_classes, self.aux = cfg, num_classes, aux
        self.cell_sharing, self.head_sharing = cell_sharing, head_sharing
        self.train_output_stride = 1  # set by the training loop (recipe.loss_stride)
        self.stem = Stem(cfg)
        self.cells = nn.ModuleDict()
        # A branch ending at `final` only has cells reading scales <= final; None: any branch.
        owners = range(min(MAX_SCALE, cfg.max_depth) + 1) if cell_sharing == "branch" else [None]
        for final in owners:
            top = MAX_SCALE if final is None else final
            for index in range(cfg.max_depth):
                for scale in range(min(index, top) + 1):
                    for stride in (1, 2) if scale < top else (1,):
                        c_out = self.max_channels(scale + (stride == 2))
                        for op in cfg.ops:
                            self.cells[cell_key(index, scale, stride, op, final)] = create_op(
                                op, self.max_channels(scale), c_out, stride, cfg, slimmable=True
                            )
        self._build_fusions_and_heads()
        reachable = tuple(s for s in (1, 2) if s <= cfg.max_depth)
        self.aux_heads = build_aux_heads(cfg, num_classes, reachable if aux else ())

    def _build_fusions_and_heads(self) -> None:
        """`fusion` and `head` when shared, else `fusions` and `heads` keyed by what they serve.

        Two attribute names, not one of either type, so a checkpoint of one mode never loads
        into the other.
        """
        cfg, widest8 = self.cfg, self.max_channels(0)
        ch8 = {1: widest8, 2: widest8}
        finals_sets = [
            finals
            for k in range(1, cfg.max_branches + 1)
            for finals in combinations(range(MAX_SCALE + 1), k)
            if max(finals) <= cfg.max_depth
        ]
        c8, c4 = cfg.channels(0, 1.0), self.stem.out4_channels
        widths = [c8 * k for k in range(1, cfg.max_branches + 1)]
        if self.head_sharing == "shared":
            every = tuple(sorted({s for finals in finals_sets for s in finals}))
            self.fusion = Fusion(cfg, every, self.max_channels(1), ch8, self.aux)
            self.head = SegHead(cfg, widths[-1], c4, self.num_classes, tuple(widths[:-1]))
            return
        self.fusions = nn.ModuleDict(
            {
                fusion_key(finals): Fusion(cfg, finals, self.max_channels(1), ch8, self.aux)
                for finals in finals_sets
            }
        )
        self.heads = nn.ModuleDict(
            {str(k): SegHead(cfg, w, c4, self.num_classes) for k, w in enumerate(widths, 1)}
        )

    def fusion_and_head(self, plan: Plan) -> tuple[Fusion, SegHead]:
        """The fusion and main head that run `plan` (shared, or those of its final scales)."""
        if self.head_sharing == "shared":
            return self.fusion, self.head
        return self.fusions[fusion_key(plan.final_scales)], self.heads[str(len(plan.ends))]

    def max_channels(self, scale: int) -> int:
        """Widest feature a cell can read or write at `scale` (the stem's too at scale 0)."""
        widest = max(self.cfg.channels(scale, w) for w in (*self.cfg.widths, LAST_WIDTH))
        return max(widest, self.cfg.channels(0, 1.0)) if scale == 0 else widest

    def forward(self, x: torch.Tensor, arch: Arch) -> NetOutput:
        """Runs exactly the sub-network `arch` (same output contract as `SegNet.forward`).

        Raises:
            ArchError: `arch` is not in this supernet's search space.
            InputSizeError: Input sides are not multiples of 64.
        """
        arch.validate(self.cfg)
        plan = build_plan(arch, self.cfg)
        keys = self.cell_keys(plan)

        def run_cell(node: Node, y: torch.Tensor) -> torch.Tensor:
            return self.cells[keys[node.name]](y, node.c_out)

        use_aux = self.training and self.aux
        return run_network(
            x,
            plan,
            self.stem,
            run_cell,
            *self.fusion_and_head(plan),
            self.aux_heads if use_aux else None,
            self.train_output_stride if self.training else 1,
        )

    def cell_keys(self, plan: Plan) -> dict[str, str]:
        """Maps each node of `plan` to the key of the supernet cell that runs it."""
        owners = cell_owners(plan) if self.cell_sharing == "branch" else {}
        return {
            n.name: cell_key(n.index, n.in_scale, n.cell.stride, n.cell.op, owners.get(n.name))
            for n in plan.nodes
        }

    def source_names(self, net: SegNet) -> dict[str, str]:
        """Maps each module prefix of `net` (built from this supernet's config) to ours."""
        plan = net.plan
        shared = self.head_sharing == "shared"
        names = {
            "stem.": "stem.",
            "fusion.": "fusion." if shared else f"fusions.{fusion_key(plan.final_scales)}.",
            "head.": "head." if shared else f"heads.{len(plan.ends)}.",
            "aux_heads.": "aux_heads.",
        }
        for name, key in self.cell_keys(plan).items():
            names[f"cells.{name}."] = f"cells.{key}."
        return names

    def input_columns(self, net: SegNet) -> dict[str, torch.Tensor]:
        """Where the inputs of `net`'s fusion and head lie in the shared ones' weights.

        Maps the name of each weight of `net` whose input channels are not a prefix of the
        supernet's to the supernet's input channels, in `net`'s order (empty unless
        `head_sharing="shared"`).
        """
        if self.head_sharing != "shared":
            return {}
        finals = net.plan.final_scales
        c8, c16, c_skip = self.fusion.c8, self.cfg.channels(1, 1.0), self.cfg.head_skip_channels
        widths16 = {1: c16, 2: fusion_channels(net.plan)[0]}
        # In the order `net`'s own fusion concatenates its inputs (its offsets).
        order8 = sorted(net.fusion.offsets8, key=net.fusion.offsets8.__getitem__)
        order16 = sorted((s for s in widths16 if s in finals), key=net.fusion.offsets16.__getitem__)
        at8 = [(self.fusion.offsets8[s], c8) for s in order8]
        at16 = [(self.fusion.offsets16[s], widths16[s]) for s in order16]
        at_head = [(0, net.fusion.out_channels), (self.head.c_in, c_skip)]
        columns = {"fusion.ffm8.conv.conv.weight": at8}
        if net.fusion.ffm16 is not None:  # aux heads, and a branch ending at 1/16 or 1/32
            columns["fusion.ffm16.conv.conv.weight"] = at16
        for conv in ("conv1", "shortcut"):
            columns[f"head.block.{conv}.conv.weight"] = at_head
        return {n: torch.cat([torch.arange(o, o + w) for o, w in at]) for n, at in columns.items()}

    @torch.no_grad()
    def extract(self, arch: Arch) -> SegNet:
        """A stand-alone `SegNet` of `arch` carrying the inherited (sliced) weights.

        Every parameter and buffer of the new network is the leading slice of the
        supernet tensor it maps to, after picking the input channels of a shared fusion or
        head (`input_columns`); the network is in the supernet's train/eval mode.

        Raises:
            ArchError: `arch` is not in this supernet's search space.
        """
        arch.validate(self.cfg)
        net = SegNet(arch, self.cfg, self.num_classes, self.aux)
        device = next(self.parameters()).device
        net.to(device)
        source = self.state_dict()
        mapping, columns = self.source_names(net), self.input_columns(net)
        targets = net.state_dict()
        if unknown := sorted(columns.keys() - targets.keys()):
            # A renamed layer would otherwise be copied by prefix: wrong weights, no error.
            raise RuntimeError(f"input_columns names weights SegNet does not have: {unknown}")
        state = {}
        for name, tensor in targets.items():
            prefix = next(p for p in mapping if name.startswith(p))
            src = source[mapping[prefix] + name[len(prefix) :]]
            if name in columns:
                src = src.index_select(1, columns[name].to(src.device))
            state[name] = src[tuple(slice(0, n) for n in tensor.shape)].clone()
        net.load_state_dict(state)
        return net.train(self.training)
