"""The checks every extracted attention passes, chunk by chunk: finite, rows summing to 1, and whether anything
above the diagonal (a later token) gets weight.

:class:`RowChecks` accumulates over the chunks of query rows a sink receives (numpy arrays or torch tensors of
shape (heads, rows, columns)); :meth:`RowChecks.verify` raises the same :class:`~mkdocs_attnviz.errors.AttnvizError`
whatever way the weights came (the model's own ``output_attentions``, or our attention function).
"""

from __future__ import annotations

from typing import Any

from ..errors import AttnvizError

__all__ = ["RowChecks"]


class RowChecks:
    """Running checks of one attention set."""

    def __init__(self) -> None:
        self.finite = True
        self.sum_error = 0.0
        self.upper = 0.0  # the largest weight a query gives a later key

    def rows(self, w: Any, r0: int = 0, c0: int = 0) -> None:
        """One chunk: ``w`` (heads, rows, columns) for query rows ``r0...`` and key columns ``c0...``."""
        import numpy as np

        if hasattr(w, "detach"):  # a torch tensor
            import torch

            self.finite = self.finite and bool(torch.isfinite(w).all())
            self.sum_error = max(self.sum_error, float((w.sum(-1) - 1.0).abs().max()) if w.numel() else 0.0)
            if c0 + w.shape[-1] > r0 + 1:
                self.upper = max(self.upper, float(torch.triu(w, diagonal=r0 - c0 + 1).max()))
            return
        self.finite = self.finite and bool(np.isfinite(w).all())
        self.sum_error = max(self.sum_error, float(np.abs(w.sum(-1) - 1.0).max()) if w.size else 0.0)
        if c0 + w.shape[-1] > r0 + 1:
            self.upper = max(self.upper, float(np.triu(w, k=r0 - c0 + 1).max()))

    def verify(self, name: str, causal: bool, encoder_decoder: bool, n: int, what: str = "",
               option: str = "model") -> bool:
        """Raise on non-finite weights, rows not summing to 1, or a decoder looking ahead; return whether the
        attention is causal (a model not known to be causal that masks the future anyway counts as causal)."""
        of = f"{what} " if what else ""
        if not self.finite:
            raise AttnvizError(f"model {name!r} returned {of}attention weights that are not finite (NaN/inf)",
                               option=option)
        if self.sum_error > 1e-3:
            raise AttnvizError(f"model {name!r} returned {of}attention rows that do not sum to 1 (off by "
                               f"{self.sum_error:.3g}): not softmax attention weights?", option=option)
        if causal and n > 1 and self.upper > 1e-6:
            raise AttnvizError(f"model {name!r} is a decoder but its {of}attention looks at later tokens "
                               "(upper triangle not zero)", option=option)
        if not causal and not encoder_decoder and n > 2 and self.upper <= 1e-6:
            return True
        return causal
