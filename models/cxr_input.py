"""Model input from a displayed chest radiograph (grey values 0 black .. 1 white).

The same function prepares training images (JPEG/PNG) and DICOM frames at inference, so what the
model sees in deployment is what it saw in training.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "densenet_input", "resize_square", "small_input"]

FloatArray = npt.NDArray[np.float32]
#: ImageNet channel statistics, the normalisation of the CheXNet-style DenseNet-121 checkpoints.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_square(display: npt.NDArray[np.floating], size: int) -> FloatArray:
    """``display`` (2-D, 0..1) resized to ``size`` x ``size`` with bilinear interpolation.

    Raises
    ------
    ValueError
        ``display`` is not a 2-D array or ``size`` is not positive.
    """
    if display.ndim != 2:
        raise ValueError(f"display must be a 2-D grey image, got shape {display.shape}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    image = Image.fromarray(np.asarray(display, dtype=np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def small_input(display: npt.NDArray[np.floating], size: int) -> FloatArray:
    """Input of :class:`models.cxr_net.CxrSmallNet`: ``(1, size, size)``, standardised per image."""
    square = resize_square(display, size)
    std = float(square.std())
    return ((square - float(square.mean())) / (std if std > 1e-6 else 1.0))[np.newaxis].astype(np.float32)


def densenet_input(display: npt.NDArray[np.floating], size: int = 224) -> FloatArray:
    """Input of :class:`models.cxr_densenet.DenseNet121`: ``(3, size, size)``, ImageNet-normalised."""
    square = resize_square(display, size)
    channels = [(square - mean) / std for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    return np.stack(channels).astype(np.float32)
