"""DenseNet-121 for chest radiographs, with torchvision's parameter names (ChestX-ray14 checkpoints load).

torchvision cannot be installed beside this project's torch, so the network is written here.  Its
module tree and therefore its ``state_dict`` keys are exactly those of torchvision's
``densenet121`` (``features.conv0``, ``features.denseblock1.denselayer1.norm1`` ...,
``features.norm5``, ``classifier``), with a 14-output ``classifier`` for the ChestX-ray14 labels.
The common published checkpoints (CheXNet re-implementations such as arnoweng/CheXNet, and
torchxrayvision-style exports) differ only in prefixes (``module.``, ``densenet121.``), the old
torchvision names (``norm.1``, ``conv.2``) and a ``classifier.0`` Linear inside a Sequential;
:func:`normalise_state_dict` maps all of those to this layout, so such a file loads with
``strict=True``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["CHESTXRAY14_LABELS", "DenseNet121", "normalise_state_dict"]

#: The 14 ChestX-ray14 labels in the order of the published checkpoints' outputs.
CHESTXRAY14_LABELS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)

_OLD_NAME = re.compile(r"\.(norm|relu|conv)\.([0-9]+)")


class _DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1-BN-ReLU-Conv3x3, output concatenated to the input (torchvision names)."""

    def __init__(self, in_channels: int, growth: int, bottleneck: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bottleneck * growth, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bottleneck * growth, growth, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return torch.cat([x, out], 1)


class _DenseBlock(nn.Sequential):
    def __init__(self, layers: int, in_channels: int, growth: int, bottleneck: int) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(in_channels + i * growth, growth, bottleneck))


class _Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False))
        self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet121(nn.Module):
    """torchvision's ``densenet121`` layout with ``num_classes`` outputs (logits).

    Parameters
    ----------
    num_classes
        Outputs of the ``classifier`` Linear layer (14 for ChestX-ray14 checkpoints).
    """

    def __init__(self, num_classes: int = len(CHESTXRAY14_LABELS)) -> None:
        super().__init__()
        growth, bottleneck, channels = 32, 4, 64
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, channels, kernel_size=7, stride=2, padding=3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(channels))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        for index, layers in enumerate((6, 12, 24, 16), start=1):
            self.features.add_module(f"denseblock{index}", _DenseBlock(layers, channels, growth, bottleneck))
            channels += layers * growth
            if index != 4:
                self.features.add_module(f"transition{index}", _Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature maps after ReLU (what Grad-CAM weighs)."""
        return torch.relu(self.features(x))

    def classify(self, maps: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`feature_maps` output."""
        out: torch.Tensor = self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(maps, 1), 1))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.feature_maps(x))


def normalise_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a published checkpoint's keys onto :class:`DenseNet121`'s (torchvision's) names.

    Strips ``module.`` (DataParallel) and ``densenet121.``/``model.`` prefixes, renames the old
    torchvision ``norm.1``/``conv.2`` style to ``norm1``/``conv2`` and ``classifier.0.`` to
    ``classifier.``.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key
        for prefix in ("module.", "densenet121.", "model."):
            name = name.removeprefix(prefix)
        name = _OLD_NAME.sub(r".\1\2", name).replace("classifier.0.", "classifier.")
        out[name] = value
    return out
