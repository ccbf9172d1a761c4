"""The FMCIB feature extractor: network, checkpoint loading and batched inference.

The network is MONAI's 3D ResNet-50 exactly as FMCIB (Pai et al., Nat Mach Intell 2024)
builds it: one input channel, widen factor 2, stride-2 first convolution, biased
downsampling shortcuts, no fully connected layer. After global average pooling it maps
each 50 x 50 x 50 mm cube (1 mm voxels, (z, y, x) order) to 4,096 features. It always
runs in eval mode (BatchNorm uses its running statistics, so a cube's features do not
depend on the other cubes in its batch).

Two sources of weights:

- ``weights_path=None``: a seeded, randomly initialised network of the same architecture
  (the "random-init" control). The seed is applied inside ``torch.random.fork_rng`` so the
  caller's global RNG state is neither used nor advanced, and two calls with one seed give
  bit-identical parameters.
- a checkpoint file in either of the two layouts the FMCIB package reads: a dict with
  ``trunk_state_dict`` (the published ``model_weights.torch``), or a dict with
  ``state_dict`` whose trunk keys carry the ``model.trunk.`` prefix. Unlike the reference
  loader (``strict=False``, which silently leaves an untrained network when handed a wrong
  file), every trunk key must match by name and shape, otherwise a ``WeightsError`` says
  what is wrong with which file.

Thread counts are the caller's business (``configure_threads``); nothing here changes
them as a side effect.

The pipeline runs the trunk with each BatchNorm folded into the convolution before it
(``fold_batch_norm_``): 53 fewer passes over the activations (4 % of the time), ~5 % more
cubes/s at batch 8 on 2 cores; features equal the unfolded network's to ~1e-6 of their
scale (float32 rounding of the folded weights). Channels-last layout was measured too and
left out: +1 % at batch 8 and +12 % at batch 16, but 45 % slower at batch 1, where PyTorch
runs the small layers outside oneDNN and reorders around them.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import resnet50

logger = logging.getLogger(__name__)

RANDOM_INIT_LABEL = "resnet50-random-init"
N_FEATURES = 4096
CUBE_SHAPE = (50, 50, 50)

TRUNK_KEY = "trunk_state_dict"
STATE_DICT_KEY = "state_dict"
TRUNK_PREFIX = "model.trunk."

_WEIGHTS_PARAM = "fm.weights_path"
_EXPECTED_CONTENT = (
    f"a dict with '{TRUNK_KEY}' (the published FMCIB model_weights.torch, Zenodo record "
    f"10528450) or a dict with '{STATE_DICT_KEY}' whose trunk keys start with "
    f"'{TRUNK_PREFIX}', holding all {{n}} parameters and buffers of MONAI's "
    "resnet50(n_input_channels=1, widen_factor=2, conv1_t_stride=2, feed_forward=False, "
    "bias_downsample=True)"
)
_N_LISTED = 5  # how many offending keys an error message lists
_HASH_CHUNK = 1 << 20


class WeightsError(ValueError):
    """A weights file that cannot be used as the FMCIB trunk (missing, unreadable, wrong)."""


@dataclass(frozen=True)
class FeatureExtractorInfo:
    """Provenance of a feature extractor, for logging alongside its features.

    Attributes:
        label: ``fmcib-<first 12 hex digits of the file's sha256>`` for a checkpoint,
            ``RANDOM_INIT_LABEL`` for the random-init control.
        weights_path: absolute path of the checkpoint, None for the random-init control.
        sha256: full hex sha256 of the checkpoint file, None for the random-init control.
        seed: the seed of the random initialisation, None for a checkpoint.
    """

    label: str
    weights_path: str | None
    sha256: str | None
    seed: int | None


def _make_resnet50() -> torch.nn.Module:
    return resnet50(
        pretrained=False,
        n_input_channels=1,
        widen_factor=2,
        conv1_t_stride=2,
        feed_forward=False,
        bias_downsample=True,
    )


def build_fmcib_trunk() -> torch.nn.Module:
    """The FMCIB trunk architecture, freshly initialised (uses the global RNG), eval mode."""
    return _make_resnet50().eval()


def configure_threads(n: int | None) -> None:
    """Set torch's intra-op thread count when ``n`` is given; leave it alone for None."""
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"thread count must be a positive integer or None, got {n!r}")
    torch.set_num_threads(n)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (checkpoints are ~0.7 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_fm_extractor(
    weights_path: str | os.PathLike | None, seed: int
) -> tuple[torch.nn.Module, FeatureExtractorInfo]:
    """The FMCIB trunk (eval mode, CPU) with its provenance.

    Args:
        weights_path: an FMCIB checkpoint file, or None for the seeded random-init control.
        seed: seed of the random-init control (ignored, and recorded as None, for a file).

    Raises:
        WeightsError: the file is missing, unreadable, not a recognised checkpoint, or its
            trunk keys or shapes do not match the architecture exactly.
    """
    if weights_path is None:
        return _random_init(seed)
    return _from_checkpoint(weights_path)


def _random_init(seed: int) -> tuple[torch.nn.Module, FeatureExtractorInfo]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    # fork_rng restores the CPU generator on exit; devices=[] because this is CPU-only.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_fmcib_trunk()
    logger.info("FM extractor: %s (seed %d)", RANDOM_INIT_LABEL, seed)
    return model, FeatureExtractorInfo(
        label=RANDOM_INIT_LABEL, weights_path=None, sha256=None, seed=seed
    )


def _checkpoint_path(weights_path: str | os.PathLike) -> Path:
    """The configured weights file, resolved; an error naming the parameter if it is not one."""
    path = Path(weights_path).expanduser()
    if not path.exists():
        raise WeightsError(
            f"FMCIB weights file not found: '{path}' (parameter `{_WEIGHTS_PARAM}`). "
            "Point it at the FMCIB checkpoint (model_weights.torch, Zenodo record "
            f"10528450), or set `{_WEIGHTS_PARAM}: null` to use the seeded random-init "
            f"control network ('{RANDOM_INIT_LABEL}')."
        )
    if not path.is_file():
        raise WeightsError(
            f"FMCIB weights path '{path}' (parameter `{_WEIGHTS_PARAM}`) is not a file."
        )
    return path.resolve()


def _checkpoint_info(path: Path) -> FeatureExtractorInfo:
    """A checkpoint's provenance: labelled by the first 12 hex digits of its sha256."""
    digest = sha256_file(path)
    return FeatureExtractorInfo(label=f"fmcib-{digest[:12]}", weights_path=str(path), sha256=digest, seed=None)


def _from_checkpoint(
    weights_path: str | os.PathLike,
) -> tuple[torch.nn.Module, FeatureExtractorInfo]:
    path = _checkpoint_path(weights_path)
    checkpoint = _torch_load(path)
    trunk_state = _trunk_state_dict(checkpoint, path)

    # The architecture on the meta device: key names and shapes, no memory, no init cost.
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        skeleton = _make_resnet50()
    expected = skeleton.state_dict()
    _check_keys_and_shapes(trunk_state, expected, path)

    # assign=True makes the loaded tensors the module's parameters and buffers: no random
    # init, no second 0.7 GB copy. Every one of them is replaced (strict, and resnet50 has
    # no non-persistent buffers), so nothing is left on the meta device.
    try:
        skeleton.load_state_dict(trunk_state, strict=True, assign=True)
    except RuntimeError as error:  # belt and braces: the checks above should catch all
        raise WeightsError(f"Cannot load the FMCIB trunk from '{path}': {error}") from error
    model = skeleton.float().eval()  # a half-precision file still runs in float32
    left_on_meta = [n for n, t in itertools.chain(model.named_parameters(),
                                                   model.named_buffers()) if t.is_meta]
    if left_on_meta:
        raise WeightsError(
            f"FMCIB weights file '{path}' left {len(left_on_meta)} tensors unset "
            f"(e.g. {_few(left_on_meta)})."
        )

    info = _checkpoint_info(path)
    logger.info("FM extractor: %s from %s (sha256 %s)", info.label, path, info.sha256)
    return model, info


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt input
        text = str(error)
        if "Weights only load failed" in text:
            reason = (
                "it holds Python objects other than tensors and plain containers, which "
                "torch.load(weights_only=True) refuses to unpickle (by design: unpickling "
                "can run arbitrary code)"
            )
        else:
            reason = (
                "torch cannot read it (truncated or corrupt download, or not a torch "
                f"checkpoint): {type(error).__name__}: {text.splitlines()[0] if text else ''}"
            )
        raise WeightsError(
            f"Cannot load FMCIB weights file '{path}' (parameter `{_WEIGHTS_PARAM}`): "
            f"{reason}. Expected {_EXPECTED_CONTENT.format(n='all')}."
        ) from error


def _trunk_state_dict(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    """The trunk's state dict from either checkpoint layout, keys without prefixes."""
    if not isinstance(checkpoint, Mapping):
        raise WeightsError(
            f"FMCIB weights file '{path}' holds a {type(checkpoint).__name__}, not a dict. "
            f"Expected {_EXPECTED_CONTENT.format(n='all')}."
        )
    if TRUNK_KEY in checkpoint:
        if STATE_DICT_KEY in checkpoint:
            logger.debug("'%s' has both '%s' and '%s'; using '%s'",
                         path, TRUNK_KEY, STATE_DICT_KEY, TRUNK_KEY)
        state = checkpoint[TRUNK_KEY]
        _require_tensor_mapping(state, f"'{TRUNK_KEY}'", path)
        trunk = dict(state)
        logger.debug("'%s': %d trunk entries from '%s'", path, len(trunk), TRUNK_KEY)
    elif STATE_DICT_KEY in checkpoint:
        state = checkpoint[STATE_DICT_KEY]
        _require_tensor_mapping(state, f"'{STATE_DICT_KEY}'", path)
        trunk = {}
        ignored = []
        for key, value in state.items():
            if isinstance(key, str) and key.startswith(TRUNK_PREFIX):
                trunk[key[len(TRUNK_PREFIX):]] = value
            else:
                ignored.append(key)
        logger.debug(
            "'%s': %d trunk entries with prefix '%s' in '%s'; ignored %d other entries "
            "(e.g. %s)", path, len(trunk), TRUNK_PREFIX, STATE_DICT_KEY, len(ignored),
            _few(ignored),
        )
        if not trunk:
            raise WeightsError(
                f"FMCIB weights file '{path}': '{STATE_DICT_KEY}' has {len(state)} entries "
                f"but none starts with '{TRUNK_PREFIX}' (found e.g. {_few(ignored)}). "
                f"Expected {_EXPECTED_CONTENT.format(n='all')}."
            )
    else:
        keys = list(checkpoint.keys())
        hint = ""
        if any(isinstance(k, str) and k.startswith("conv1.") for k in keys):
            hint = (
                f" It looks like a bare trunk state dict; save it as "
                f"{{'{TRUNK_KEY}': state_dict}}."
            )
        raise WeightsError(
            f"FMCIB weights file '{path}' has neither '{TRUNK_KEY}' nor '{STATE_DICT_KEY}'; "
            f"its {len(keys)} top-level keys are {_few(keys, 10)}.{hint} "
            f"Expected {_EXPECTED_CONTENT.format(n='all')}."
        )
    return trunk


def _require_tensor_mapping(state: object, what: str, path: Path) -> None:
    if not isinstance(state, Mapping):
        raise WeightsError(
            f"FMCIB weights file '{path}': {what} is a {type(state).__name__}, not a dict "
            "of tensors."
        )
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(
            f"FMCIB weights file '{path}': {len(bad)} entries of {what} are not tensors "
            f"(e.g. {_few(bad)})."
        )


def _check_keys_and_shapes(
    found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path
) -> None:
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing trunk keys (e.g. {_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected trunk keys (e.g. {_few(unexpected)})")
        raise WeightsError(
            f"FMCIB weights file '{path}' does not match the FMCIB trunk: "
            f"{' and '.join(parts)}; the file has {len(found)} trunk entries, the "
            f"architecture {len(expected)}. Expected {_EXPECTED_CONTENT.format(n=len(expected))}."
        )
    wrong = [
        f"{k}: file {tuple(found[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(found[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise WeightsError(
            f"FMCIB weights file '{path}' has {len(wrong)} trunk tensors of the wrong shape "
            f"(e.g. {'; '.join(wrong[:_N_LISTED])}). "
            f"Expected {_EXPECTED_CONTENT.format(n=len(expected))}."
        )


def _few(items: list, n: int = _N_LISTED) -> str:
    shown = ", ".join(repr(i) for i in items[:n])
    return f"[{shown}{', ...' if len(items) > n else ''}]"


@torch.no_grad()
def fold_batch_norm_(model: torch.nn.Module) -> torch.nn.Module:
    """Fold, in place, every eval-mode BatchNorm3d into the Conv3d whose output only it reads
    (found on the ``torch.fx`` graph), leaving ``Identity`` in its place; returns ``model``.

    In place, because a copy would briefly double the ~0.7 GB of weights. The model must
    not be trained afterwards: its BatchNorms are gone.
    """
    model.eval()
    modules = dict(model.named_modules())
    for node in torch.fx.symbolic_trace(model).graph.nodes:
        source = node.args[0] if node.args else None
        if (
            node.op == "call_module"
            and isinstance(modules[node.target], torch.nn.BatchNorm3d)
            and isinstance(source, torch.fx.Node)
            and source.op == "call_module"
            and isinstance(modules[source.target], torch.nn.Conv3d)
            and len(source.users) == 1
        ):
            _fold_into(modules[source.target], modules[node.target])
            parent, _, name = node.target.rpartition(".")
            setattr(modules[parent], name, torch.nn.Identity())
    return model


def _fold_into(conv: torch.nn.Conv3d, bn: torch.nn.BatchNorm3d) -> None:
    """conv then bn == conv with weight w * s and bias (b - mean) * s + beta,
    s = gamma / sqrt(var + eps) per output channel."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
    conv.bias = torch.nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)


def _batches(
    cubes: np.ndarray | Iterable[np.ndarray], batch_size: int
) -> Iterator[np.ndarray]:
    """(B, 50, 50, 50) float32 batches, consuming an iterable lazily."""
    if isinstance(cubes, np.ndarray):
        if cubes.ndim != 4 or cubes.shape[1:] != CUBE_SHAPE:
            raise ValueError(
                f"cubes array must have shape (N, 50, 50, 50), got {cubes.shape}; "
                "pass a single cube as cube[None]"
            )
        for start in range(0, cubes.shape[0], batch_size):
            yield np.ascontiguousarray(cubes[start:start + batch_size], dtype=np.float32)
        return
    iterator = iter(cubes)
    index = 0
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            return
        for offset, cube in enumerate(chunk):
            shape = np.shape(cube)
            if tuple(shape) != CUBE_SHAPE:
                raise ValueError(
                    f"cube {index + offset} has shape {tuple(shape)}, expected {CUBE_SHAPE}"
                )
        index += len(chunk)
        yield np.stack([np.asarray(c, dtype=np.float32) for c in chunk])


def extract_features(
    model: torch.nn.Module,
    cubes: np.ndarray | Iterable[np.ndarray],
    batch_size: int,
) -> np.ndarray:
    """FMCIB features of 50^3 cubes, computed batch by batch.

    Args:
        model: the trunk from ``load_fm_extractor`` (put into eval mode here if needed).
        cubes: an array (N, 50, 50, 50), or an iterable (e.g. a generator) of (50, 50, 50)
            arrays, in (z, y, x) order and already intensity-normalised. An iterable is
            consumed ``batch_size`` cubes at a time, so memory stays bounded.
        batch_size: cubes per forward pass (features agree across batch sizes to ~1e-6).

    Returns:
        float32 array (N, 4096), one row per cube in input order; (0, 4096) for no cubes.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    if model.training:
        model.eval()
    device = next(model.parameters()).device
    outputs: list[np.ndarray] = []
    done = 0
    with torch.inference_mode():
        for batch in _batches(cubes, batch_size):
            if not np.isfinite(batch).all():
                bad = done + int(np.flatnonzero(~np.isfinite(batch).reshape(len(batch), -1)
                                                .all(axis=1))[0])
                raise ValueError(f"cube {bad} contains NaN or infinite values")
            x = torch.from_numpy(batch).unsqueeze(1).to(device)  # (B, 1, 50, 50, 50)
            y = model(x)
            if y.ndim != 2 or y.shape[1] != N_FEATURES:
                raise RuntimeError(
                    f"model returned shape {tuple(y.shape)}, expected (B, {N_FEATURES}); "
                    "is it the FMCIB trunk (feed_forward=False)?"
                )
            outputs.append(y.to("cpu", torch.float32).numpy().copy())
            done += len(batch)
            logger.debug("FM features: %d cubes done", done)
    if not outputs:
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    return np.concatenate(outputs, axis=0)


def describe_fm_extractor(weights_path: str | os.PathLike | None, seed: int) -> FeatureExtractorInfo:
    """The provenance ``load_fm_extractor`` would report, without building the network:
    what a run fingerprints its FM features by (the checkpoint is hashed, not loaded, and
    is validated when a worker loads it)."""
    if weights_path is None:
        return FeatureExtractorInfo(label=RANDOM_INIT_LABEL, weights_path=None, sha256=None, seed=int(seed))
    return _checkpoint_info(_checkpoint_path(weights_path))
