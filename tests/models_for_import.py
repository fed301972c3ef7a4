"""Small hand-written torch models for the import and cross-check tests (not cnnsize-built)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """torchvision-style: one ReLU module called twice, an in-place residual add."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                         nn.BatchNorm2d(c_out))
                           if stride != 1 or c_in != c_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return s * x


class Mixed(nn.Module):
    """Inception-style: parallel branches with a functional pool, concatenated."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(c, 8, 1)
        self.branch3x3_1 = nn.Conv2d(c, 4, 1)
        self.branch3x3_2 = nn.Conv2d(4, 8, 3, padding=1)
        self.branch_pool = nn.Conv2d(c, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_2(F.relu(self.branch3x3_1(x)))
        c = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([a, b, c], 1)


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 32, stride=2))
        self.se = SqueezeExcite(32)
        self.mixed = Mixed(32)
        self.fc = nn.Linear(20, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.stem(x)), 2, ceil_mode=True)
        x = self.mixed(self.se(self.layer1(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.fc(x)


class DataDependent(nn.Module):
    """torch.fx cannot trace the `if` on a tensor value: the importer falls back to hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6 * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv(x)) if x.sum() > -1e30 else self.conv(x))
        return self.fc(self.flat(x))


class WithUnfold(nn.Module):
    """A module cnnsize has no kind for (nn.Unfold, im2col)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fold = nn.Unfold(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fold(self.conv(x))


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return SmallNet()


# ---------------------------------------------------------------- graphs a tree cannot say


class DenseBlock(nn.Module):
    """DenseNet-style: every layer reads the concatenation of all earlier outputs (a list)."""

    def __init__(self, c: int = 8, growth: int = 4, layers: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(c + i * growth), nn.ReLU(), nn.Conv2d(c + i * growth, growth, 3, padding=1))
            for i in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class TinyUNet(nn.Module):
    """Two levels, long skips, and a last concat that also reads the network's input."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.bottom = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(32, 16, 3, padding=1), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec1 = nn.Sequential(nn.Conv2d(16 + 3, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        b = self.bottom(e2)
        d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1, x], 1))
        return self.head(d1)


class TinyFPN(nn.Module):
    """Lateral 1x1 convs, top-down nearest upsampling by transposed conv, three outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.c2 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.c4 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.lat2, self.lat3, self.lat4 = nn.Conv2d(8, 8, 1), nn.Conv2d(16, 8, 1), nn.Conv2d(32, 8, 1)
        self.up4 = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.up3 = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.out2, self.out3, self.out4 = (nn.Conv2d(8, 8, 3, padding=1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c2 = F.relu(self.c2(x))
        c3 = F.relu(self.c3(c2))
        c4 = F.relu(self.c4(c3))
        p4 = self.lat4(c4)
        p3 = self.lat3(c3) + self.up4(p4)
        p2 = self.lat2(c2) + self.up3(p3)
        return self.out2(p2), self.out3(p3), self.out4(p4)


class TwoInputs(nn.Module):
    """Image and mask, each through its own stem, fused by addition (RAFT-like: two inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Conv2d(3, 8, 3, padding=1)
        self.mask = nn.Conv2d(1, 8, 3, padding=1)
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.image(image) + self.mask(mask))


class SharedConv(nn.Module):
    """One nn.Conv2d applied twice: 148 parameters, MACs twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)   # 4·4·9 + 4 = 148

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(self.conv(x)))


class CatWidth(nn.Module):
    """torch.cat along the width (dim 3), not the channels: 6×6×6 and 6×6×8 give 6×6×14."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 6, 3)           # 2×8×8 → 6×6×6
        self.b = nn.Conv2d(2, 6, (3, 1))      # 2×8×8 → 6×6×8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=3)


class TransposedWithSize(nn.Module):
    """A transposed conv called with output_size: 16×16, where its arguments alone give 15×15."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x), output_size=[16, 16])


class GuardedClassifier(nn.Module):
    """A torchvision-style classifier behind a shape check that torch.fx cannot trace."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError("square images only")
        return self.backbone(x)


class ViewFlatten(nn.Module):
    """The old idiom: x.view(x.size(0), -1) before the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(6 * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))


class ListBlock(nn.Module):
    """SelecSLS-style: blocks pass [out, skip] lists to each other."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.merge = nn.Conv2d(2 * c, c, 1)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = self.conv(xs[0])
        return [self.merge(torch.cat([out, xs[1]], 1)), xs[1]]


class ListNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(ListBlock(8), ListBlock(8), ListBlock(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.blocks([x, x])[0]


class WithAuxHead(nn.Module):
    """GoogLeNet/Inception-style: an auxiliary head that eval-mode forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3)
        self.aux = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))  # 90 params
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        if self.training:
            return self.head(x) + self.aux(x)
        return self.head(x)


class UsesParameterDirectly(nn.Module):
    """A layer scale: a parameter times a tensor, outside any module cnnsize knows."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.scale


class TiedConvs(nn.Module):
    """Two nn.Conv2d modules holding the same weight and bias (tied): one module's parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(4, 4, 3, padding=1)
        self.second = nn.Conv2d(4, 4, 3, padding=1)
        self.second.weight = self.first.weight
        self.second.bias = self.first.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


class HalfTied(nn.Module):
    """Weights tied, biases not: cnnsize cannot write that, and must say so."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(4, 4, 3, padding=1)
        self.second = nn.Conv2d(4, 4, 3, padding=1)
        self.second.weight = self.first.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


class InPlaceRrelu(nn.Module):
    """An in-place op cnnsize has no kind for: refused, not skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.RReLU(inplace=True)
        self.out = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.conv(x)))


class WritesIntoTensor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y[:, :2] = torch.relu(y[:, :2])
        return y


class StaleView(nn.Module):
    """A view read after its base changed in place: the view holds the change."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x)
        flat = a.flatten(1)
        a.relu_()
        return self.fc(flat)


class KeywordCall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(tensors=[self.conv(input=x), F.relu(input=self.conv(x))], dim=1)


class ScaledAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.add(x, self.conv(x), alpha=-1)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ResidualInPlace(nn.Module):
    """torchvision's `out += identity`, then an in-place ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        out += x
        return self.relu(out)


class MatMulHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.matmul(y, y)


class Pair(nn.Module):
    """Two inputs of different sizes, given by name in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.ca = nn.Conv2d(3, 4, 3)
        self.cb = nn.Conv2d(3, 4, 3)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.ca(a).flatten(1), self.cb(b).flatten(1)], 1)


class BranchOnValue(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.small = nn.Conv2d(3, 2, 3)
        self.big = nn.Conv2d(3, 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.small(x) if x.mean() > 0 else self.big(x)


# ---------------------------------------------------------------- issue 11: the gaps


class InPlaceOnFunctionOutputs(nn.Module):
    """RegNet's and SqueezeNet's pattern: a module that works in place on (ReLU(inplace=True))
    or returns (Dropout in eval) a tensor that a torch function made (+, torch.cat), which no
    module hook sees being made; here also passed by keyword."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.a(x) + self.b(x))                # add: no hook; relu_ in place on it
        z = self.drop(input=torch.cat([y, self.b(x)], 1))  # cat: no hook; dropout returns it
        return self.head(z)


# Modules written the way model libraries write them (timm's, re-typed here: no download); the
# importer follows what they compute (F.batch_norm, F.pad, F.conv2d), not their class names.


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's BatchNormAct2d: a BatchNorm2d whose forward calls F.batch_norm, then its act."""

    def __init__(self, num_features: int, act: bool = True) -> None:
        super().__init__(num_features)
        self.drop = nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = self.momentum if self.momentum is not None else 1.0 / float(
                self.num_batches_tracked)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        x = F.batch_norm(x, self.running_mean if not self.training or self.track_running_stats
                         else None,
                         self.running_var if not self.training or self.track_running_stats
                         else None,
                         self.weight, self.bias, bn_training, factor, self.eps)
        return self.act(self.drop(x))


def pad_same(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...]) -> torch.Tensor:
    """timm's pad_same: TensorFlow's 'SAME', computed from the input's size in forward."""
    ih, iw = x.size()[-2:]
    pad_h = max((-(ih // -stride[0]) - 1) * stride[0] + (kernel[0] - 1) * dilation[0] + 1 - ih, 0)
    pad_w = max((-(iw // -stride[1]) - 1) * stride[1] + (kernel[1] - 1) * dilation[1] + 1 - iw, 0)
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class Conv2dSame(nn.Conv2d):
    """timm's Conv2dSame: pads to 'same' for the input it is given, then F.conv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)  # type: ignore[arg-type]
        return F.conv2d(x, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


class StdConv2d(nn.Conv2d):
    """timm's StdConv2d (weight standardisation, BiT): the weight normalised per output
    channel in forward, then F.conv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                              training=True, momentum=0.0, eps=1e-6).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ScaledStdConv2d(nn.Conv2d):
    """timm's ScaledStdConv2d: the standardised weight times a learned gain per channel (a
    second parameter in the conv's weight: refused, by name)."""

    def __init__(self, c_in: int, c_out: int, k: int) -> None:
        super().__init__(c_in, c_out, k)
        self.gain = nn.Parameter(torch.ones(c_out, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                              weight=self.gain.view(-1), training=True, momentum=0.0,
                              eps=1e-6).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding)


class LibraryStyleNet(nn.Module):
    """A stem that pads to 'same', BatchNormAct2d after each conv, a weight-standardised conv,
    a split over channels and a 'same' conv called twice (one module, shared)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Conv2dSame(3, 8, 3, stride=2, bias=False)       # 8·3·9 = 216
        self.bn1 = BatchNormAct2d(8)                                  # 16 params, 17 buffers
        self.std = StdConv2d(4, 4, 3, padding=1)                      # 4·4·9 + 4 = 148
        self.bn2 = BatchNormAct2d(4, act=False)                       # 8 params, 9 buffers
        self.mix = Conv2dSame(8, 8, 3)                                # 8·8·9 + 8 = 584
        self.head = nn.Linear(8, 5)                                   # 45

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.stem(x))
        a, b = x.split(4, dim=1)
        x = torch.cat([self.bn2(self.std(a)), b[:, :4]], dim=1)
        x = self.mix(F.relu(self.mix(x)))
        return self.head(x.mean((2, 3)))


class OpaqueOps(nn.Module):
    """A grid_sample (no formulas in cnnsize) and an nn.Unfold between counted layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.offsets = nn.Conv2d(4, 2, 1)
        self.unfold = nn.Unfold(2, stride=2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        grid = torch.tanh(self.offsets(y)).permute(0, 2, 3, 1)
        y = F.grid_sample(y, grid, align_corners=False)
        return self.fc(self.unfold(y).transpose(1, 2)).mean(1)


class Preprocessed(nn.Module):
    """A detection-style wrapper: forward normalises by constants and post-processes; the
    backbone alone is a CNN (`--submodule backbone`)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / 0.25
        return self.head(self.backbone(x)).sigmoid()


def quantized_net() -> nn.Module:
    """An eager-mode quantized model as torch.ao.quantization makes it (torchvision's
    quantized models are made so): QuantStub, a fused conv + ReLU, a residual add + ReLU
    (FloatFunctional), a linear head, DeQuantStub; x86 (fbgemm) weights."""
    from torch.ao import quantization as tq

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant = tq.QuantStub()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.relu1 = nn.ReLU()
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.add = torch.ao.nn.quantized.FloatFunctional()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)
            self.dequant = tq.DeQuantStub()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.relu1(self.conv1(self.quant(x)))
            x = self.add.add_relu(self.conv2(x), x)
            return self.dequant(self.fc(torch.flatten(self.pool(x), 1)))

    torch.manual_seed(0)
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines \
        else torch.backends.quantized.supported_engines[-1]
    net = Net().eval()
    tq.fuse_modules(net, [["conv1", "relu1"]], inplace=True)
    net.qconfig = tq.get_default_qconfig(torch.backends.quantized.engine)
    tq.prepare(net, inplace=True)
    with torch.no_grad():
        net(torch.randn(4, 3, 8, 8))
    return tq.convert(net)
