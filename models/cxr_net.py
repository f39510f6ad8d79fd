"""The project's small chest radiograph classifier: "abnormal" and "pneumonia-like opacity".

Shipped as ``models/weights/cxr_small.pt`` (see ``cxr_small.md``, its model card).  It is small on
purpose: the project had ~200 labelled public images to train on (``../shared/data``), far too few
for a DenseNet-121.  A hospital with a ChestX-ray14 DenseNet-121 checkpoint configures that instead
(:mod:`models.cxr_densenet`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["INPUT_SIZE", "SMALL_LABELS", "CxrSmallNet"]

#: Square input side in pixels (one grey channel, each image standardised to zero mean, unit std).
INPUT_SIZE = 128
#: Output order of the small model.
SMALL_LABELS = ("abnormal", "opacity")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, kernel_size=3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CxrSmallNet(nn.Module):
    """Five conv blocks (stride 32), global average pooling, dropout, one logit per label."""

    def __init__(self, num_classes: int = len(SMALL_LABELS), width: int = 12) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8, width * 8]
        blocks = [_block(cin, cout) for cin, cout in zip([1, *widths[:-1]], widths, strict=True)]
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(0.3)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature maps (what Grad-CAM weighs)."""
        out: torch.Tensor = self.features(x)
        return out

    def classify(self, maps: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`feature_maps` output."""
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(maps, 1), 1)
        out: torch.Tensor = self.classifier(self.dropout(pooled))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.feature_maps(x))
