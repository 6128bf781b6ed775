"""A small face model for the model-spec tests (`--model-spec`): any nn.Module a user brings."""

import torch
from torch import nn


class TinyEmbedder(nn.Module):
    """(B, 3, 64, 64) -> (B, 32); `features.1` is a 16 x 16 x 16 response map. The flatten makes
    the input size matter, as in most face networks."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.head = nn.Linear(16 * 16 * 16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def build() -> nn.Module:
    torch.manual_seed(0)
    return TinyEmbedder()
