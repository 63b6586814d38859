"""Built-in models (mlp, cnn, resnet18) and user model factories.

A user factory, named `package.module:factory`, is called as
`factory(input_shape: tuple[int, ...], num_classes: int)` and must return a
`torch.nn.Module` mapping a batch of shape `(N, *input_shape)` to logits `(N, num_classes)`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import TrainuiError
from .factories import call_factory, import_factory, is_factory_spec

BUILTIN_MODELS = ("mlp", "cnn", "resnet18")


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Return a fresh model by built-in name or `package.module:factory`."""
    if is_factory_spec(name):
        return _from_factory(name, input_shape, num_classes)
    builders = {"mlp": mlp, "cnn": cnn, "resnet18": resnet18}
    if name not in builders:
        raise TrainuiError(
            f"unknown model {name!r} (choose from {', '.join(BUILTIN_MODELS)}, "
            "or package.module:factory)"
        )
    return builders[name](input_shape, num_classes)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A two-hidden-layer perceptron over the flattened input."""
    features = math.prod(input_shape)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(features, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, num_classes),
    )


def cnn(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A small convolutional net: two conv blocks, global pooling to 2x2, a classifier."""
    channels = input_shape[0] if len(input_shape) == 3 else 1
    return nn.Sequential(
        _Unflatten(input_shape),
        _conv_block(channels, 32),
        _conv_block(32, 64),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * 4, 128), nn.ReLU(),
        nn.Linear(128, num_classes),
    )


def resnet18(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """torchvision's ResNet-18, its stem adapted to the input's channels and size."""
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(weights=None, num_classes=num_classes)
    channels = input_shape[0] if len(input_shape) == 3 else 1
    side = min(input_shape[-2:]) if len(input_shape) >= 2 else 1
    if side < 64:
        # Small images: a 3x3 stride-1 stem and no max-pool keep spatial detail.
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif channels != 3:
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return nn.Sequential(_Unflatten(input_shape), model)


def _conv_block(in_channels: int, out_channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class _Unflatten(nn.Module):
    """Gives image models a channel axis when the data set yields (H, W) or flat inputs."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(input_shape) not in (2, 3):
            raise TrainuiError(
                f"this model needs image inputs shaped (C, H, W) or (H, W), got {input_shape}; "
                "use --model mlp for flat inputs"
            )
        self.add_channel = len(input_shape) == 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if self.add_channel else x


def _from_factory(spec: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    factory = import_factory(spec, "model")
    model = call_factory(factory, spec, "model", tuple(input_shape), num_classes)
    if not isinstance(model, nn.Module):
        raise TrainuiError(
            f"model {spec!r} returned {type(model).__name__}, expected a torch.nn.Module"
        )
    return model
