"""Tests of the FMCIB network, its checkpoint loader and batched feature extraction.

The network costs ~0.35 s per 50^3 cube on 2 CPU cores and ~2 s to initialise, and a
checkpoint is ~0.74 GB, so the expensive objects are module-scoped and batches tiny.
"""

from __future__ import annotations

import copy
import hashlib
import shutil

import numpy as np
import pytest
import torch
from monai.networks.nets import resnet18

from lung_fm_robustness.fm.network import (
    N_FEATURES,
    RANDOM_INIT_LABEL,
    FeatureExtractorInfo,
    WeightsError,
    build_fmcib_trunk,
    configure_threads,
    extract_features,
    fold_batch_norm_,
    load_fm_extractor,
)

SEED = 7


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cubes() -> np.ndarray:
    """Eight CT-like cubes, already normalised as FMCIB does: v = (HU + 1024) / 3072."""
    rng = np.random.default_rng(20240601)
    z, y, x = np.mgrid[:50, :50, :50]
    out = []
    for radius in (3.5, 6.0, 10.0, 4.0, 8.0, 2.5, 12.0, 5.0):
        hu = np.full((50, 50, 50), -850.0) + rng.normal(0.0, 40.0, (50, 50, 50))
        inside = (z - 25) ** 2 + (y - 25) ** 2 + (x - 25) ** 2 <= radius**2
        hu[inside] = 40.0 + rng.normal(0.0, 20.0, inside.sum())
        out.append((hu + 1024.0) / 3072.0)
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def random_net():
    return load_fm_extractor(None, seed=SEED)


@pytest.fixture(scope="module")
def random_features(random_net, cubes) -> np.ndarray:
    return extract_features(random_net[0], cubes[:2], batch_size=2)


@pytest.fixture(scope="module")
def source_net() -> torch.nn.Module:
    """A seeded network built here, with non-trivial BatchNorm statistics so that the
    checkpoint tests also prove that the buffers (not just the parameters) are loaded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        net = build_fmcib_trunk()
    gen = torch.Generator().manual_seed(54321)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(0.05 * torch.randn(buf.shape, generator=gen))
            elif name.endswith("running_var"):
                buf.copy_(0.5 + torch.rand(buf.shape, generator=gen))
            elif name.endswith("num_batches_tracked"):
                buf.fill_(1000)
    return net.eval()


@pytest.fixture(scope="module")
def source_features(source_net, cubes) -> np.ndarray:
    return extract_features(source_net, cubes[:2], batch_size=2)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("fmcib_checkpoints")
    yield path
    shutil.rmtree(path, ignore_errors=True)  # ~0.74 GB per file: do not leave them behind


@pytest.fixture(scope="module")
def checkpoints(source_net, ckpt_dir) -> dict:
    """The source network saved in both layouts FMCIB reads."""
    state = source_net.state_dict()
    trunk_file = ckpt_dir / "model_weights.torch"
    torch.save({"trunk_state_dict": state, "head_state_dict": {}}, trunk_file)
    lightning = {f"model.trunk.{k}": v for k, v in state.items()}
    lightning["model.heads.0.0.weight"] = torch.zeros(8, N_FEATURES)
    lightning["model.heads.0.0.bias"] = torch.zeros(8)
    lightning_file = ckpt_dir / "lighter.ckpt"
    torch.save({"state_dict": lightning, "epoch": 3}, lightning_file)
    return {"trunk_state_dict": trunk_file, "state_dict": lightning_file}


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


# --- random-init control -------------------------------------------------------------


def test_random_init_output_shape_and_info(random_net, random_features):
    model, info = random_net
    assert not model.training
    assert info == FeatureExtractorInfo(
        label=RANDOM_INIT_LABEL, weights_path=None, sha256=None, seed=SEED
    )
    assert random_features.shape == (2, N_FEATURES)
    assert random_features.dtype == np.float32
    assert np.isfinite(random_features).all()
    assert not np.array_equal(random_features[0], random_features[1])


def test_random_init_is_deterministic_and_leaves_global_rng_alone(
    random_net, random_features, cubes
):
    torch.manual_seed(999)
    torch.rand(17)  # a global RNG state nobody else would have
    state_before = torch.get_rng_state()
    model, info = load_fm_extractor(None, seed=SEED)
    assert torch.equal(torch.get_rng_state(), state_before)  # not consumed, not reseeded

    reference = random_net[0].state_dict()
    state = model.state_dict()
    assert state.keys() == reference.keys()
    for key, value in state.items():
        assert torch.equal(value, reference[key]), key
    assert info.seed == SEED

    features = extract_features(model, cubes[:2], batch_size=2)
    np.testing.assert_array_equal(features, random_features)


def test_random_init_depends_on_the_seed(random_net):
    other, info = load_fm_extractor(None, seed=SEED + 1)
    assert info.seed == SEED + 1
    assert not torch.equal(
        other.state_dict()["conv1.weight"], random_net[0].state_dict()["conv1.weight"]
    )


# --- checkpoints ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["trunk_state_dict", "state_dict"])
def test_checkpoint_loads_exactly(layout, checkpoints, source_net, source_features, cubes):
    path = checkpoints[layout]
    model, info = load_fm_extractor(path, seed=SEED)

    digest = _sha256(path)
    assert info.sha256 == digest
    assert info.label == f"fmcib-{digest[:12]}"
    assert info.weights_path == str(path.resolve())
    assert info.seed is None
    assert not model.training

    expected = source_net.state_dict()
    loaded = model.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in loaded.items():
        assert torch.equal(value, expected[key]), key
    np.testing.assert_array_equal(
        extract_features(model, cubes[:2], batch_size=2), source_features
    )


def test_checkpoint_label_differs_between_files(checkpoints):
    labels = {_sha256(p)[:12] for p in checkpoints.values()}
    assert len(labels) == 2


def _save(path, obj):
    torch.save(obj, path)
    return path


def test_missing_trunk_key_is_an_error(source_net, ckpt_dir):
    state = dict(source_net.state_dict())
    del state["layer4.2.bn3.running_var"]
    path = _save(ckpt_dir / "missing_key.torch", {"trunk_state_dict": state})
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    text = str(err.value)
    assert str(path) in text
    assert "1 missing" in text and "layer4.2.bn3.running_var" in text
    assert "trunk_state_dict" in text  # says what the file should hold
    path.unlink()


def test_unexpected_trunk_key_is_an_error(source_net, ckpt_dir):
    state = {f"model.trunk.{k}": v for k, v in source_net.state_dict().items()}
    state["model.trunk.fc.weight"] = torch.zeros(2, N_FEATURES)
    path = _save(ckpt_dir / "unexpected_key.ckpt", {"state_dict": state})
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    text = str(err.value)
    assert str(path) in text
    assert "1 unexpected" in text and "fc.weight" in text
    assert "missing" not in text.split("Expected")[0]
    path.unlink()


def test_other_architecture_is_an_error(ckpt_dir):
    small = resnet18(n_input_channels=1, feed_forward=False)
    path = _save(ckpt_dir / "resnet18.torch", {"trunk_state_dict": small.state_dict()})
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    text = str(err.value)
    assert str(path) in text
    assert "missing trunk keys" in text and "layer1.0.conv3.weight" in text


def test_wrong_shape_is_an_error(source_net, ckpt_dir):
    state = dict(source_net.state_dict())
    state["conv1.weight"] = torch.zeros(128, 1, 3, 3, 3)
    path = _save(ckpt_dir / "wrong_shape.torch", {"trunk_state_dict": state})
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    text = str(err.value)
    assert str(path) in text and "conv1.weight" in text and "(128, 1, 3, 3, 3)" in text
    path.unlink()


@pytest.mark.parametrize(
    "content, expected_fragments",
    [
        ({"model": {}, "optimizer": {}}, ["'model'", "'optimizer'", "neither"]),
        ({"conv1.weight": torch.zeros(1)}, ["bare trunk state dict"]),
        ({"state_dict": {"model.backbone.conv1.weight": torch.zeros(1)}},
         ["model.trunk.", "model.backbone.conv1.weight"]),
        ([torch.zeros(1)], ["list, not a dict"]),
    ],
    ids=["unknown-keys", "bare-state-dict", "wrong-prefix", "not-a-dict"],
)
def test_unrecognised_layout_is_an_error(content, expected_fragments, ckpt_dir):
    path = _save(ckpt_dir / "odd.torch", content)
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    text = str(err.value)
    assert str(path) in text
    for fragment in expected_fragments:
        assert fragment in text


def test_missing_file_is_an_error(tmp_path):
    path = tmp_path / "nowhere" / "model_weights.torch"
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    text = str(err.value)
    assert str(path) in text
    assert "fm.weights_path" in text and "null" in text and RANDOM_INIT_LABEL in text
    with pytest.raises(WeightsError, match="not a file"):
        load_fm_extractor(tmp_path, seed=SEED)


def test_truncated_file_is_an_error(checkpoints, ckpt_dir):
    data = checkpoints["trunk_state_dict"].read_bytes()
    path = ckpt_dir / "truncated.torch"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError) as err:
        load_fm_extractor(path, seed=SEED)
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    path.unlink()


@pytest.mark.parametrize("payload", [b"", b"<html>404 Not Found</html>"], ids=["empty", "html"])
def test_garbage_file_is_an_error(payload, tmp_path):
    path = tmp_path / "model_weights.torch"
    path.write_bytes(payload)
    with pytest.raises(WeightsError, match="Cannot load FMCIB weights file"):
        load_fm_extractor(path, seed=SEED)


class _NotATensor:
    pass


def test_arbitrary_pickle_is_refused(tmp_path):
    path = _save(tmp_path / "pickled.torch", {"trunk_state_dict": _NotATensor()})
    with pytest.raises(WeightsError, match="weights_only"):
        load_fm_extractor(path, seed=SEED)


# --- extract_features ----------------------------------------------------------------


@pytest.fixture(scope="module")
def folded_net():
    """The random-init network as the pipeline runs it, BatchNorm folded (a second copy:
    folding is in place)."""
    return fold_batch_norm_(load_fm_extractor(None, seed=SEED)[0])


@pytest.fixture(scope="module")
def batch8(random_net, folded_net, cubes) -> dict[str, np.ndarray]:
    """Features of all cubes in one batch of 8 (the pipeline's default), both networks."""
    return {
        "as loaded": extract_features(random_net[0], cubes, batch_size=8),
        "folded": extract_features(folded_net, cubes, batch_size=8),
    }


@pytest.mark.parametrize("path", ["as loaded", "folded"])
def test_batch_size_does_not_change_features(random_net, folded_net, cubes, batch8, path):
    model = random_net[0] if path == "as loaded" else folded_net
    one = extract_features(model, cubes, batch_size=1)
    assert one.shape == batch8[path].shape == (8, N_FEATURES)
    # Different batch sizes pick different convolution kernels: float32 rounding only.
    scale = max(1.0, float(np.abs(batch8[path]).max()))
    assert np.abs(one - batch8[path]).max() <= 1e-5 * scale


def test_folding_batch_norm_keeps_the_features(folded_net, batch8):
    plain, fast = batch8["as loaded"], batch8["folded"]
    assert fast.dtype == np.float32 and not folded_net.training
    assert np.abs(fast - plain).max() <= 1e-5 * float(np.abs(plain).max())
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded_net.modules())
    assert sum(isinstance(m, torch.nn.Identity) for m in folded_net.modules()) == 53


def test_folding_uses_the_batch_norm_statistics(source_net, source_features, cubes):
    """The random-init BatchNorms are near identities (mean 0, var 1, gamma 1, beta 0);
    the source network's are not, so this is where a wrong fold would show."""
    folded = fold_batch_norm_(copy.deepcopy(source_net))
    features = extract_features(folded, cubes[:2], batch_size=2)
    assert np.abs(features - source_features).max() <= 1e-5 * float(np.abs(source_features).max())
    assert not torch.equal(folded.conv1.weight, source_net.conv1.weight)


def test_two_runs_give_bit_identical_features(cubes, batch8):
    """A separately loaded network, run as the pipeline runs it: the same bits."""
    other = fold_batch_norm_(load_fm_extractor(None, seed=SEED)[0])
    np.testing.assert_array_equal(
        extract_features(other, cubes, batch_size=8), batch8["folded"]
    )


class _CountingModel(torch.nn.Module):
    """Wraps a model and records how many cubes a generator had yielded at each batch."""

    def __init__(self, inner, produced):
        super().__init__()
        self.inner = inner
        self.produced = produced
        self.seen = []

    def forward(self, x):
        self.seen.append((x.shape[0], self.produced[0]))
        return self.inner(x)


def test_generator_input_is_consumed_batch_by_batch(random_net, random_features, cubes):
    produced = [0]

    def generate():
        for cube in cubes[:3]:
            produced[0] += 1
            yield cube

    model = _CountingModel(random_net[0], produced).eval()
    features = extract_features(model, generate(), batch_size=2)
    assert features.shape == (3, N_FEATURES) and features.dtype == np.float32
    assert model.seen == [(2, 2), (1, 3)]  # never more than one batch ahead
    np.testing.assert_array_equal(features[:2], random_features)  # same batch -> same bits


def test_input_validation(random_net, cubes):
    model = random_net[0]
    empty = extract_features(model, iter([]), batch_size=4)
    assert empty.shape == (0, N_FEATURES) and empty.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        extract_features(model, cubes[0], batch_size=1)  # a single cube, no batch axis
    with pytest.raises(ValueError, match="cube 1 has shape"):
        extract_features(model, [cubes[0], cubes[1][:, :, :49]], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(model, cubes, batch_size=0)
    bad = cubes[:2].copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="cube 1 contains NaN"):
        extract_features(model, bad, batch_size=2)


def test_configure_threads():
    before = torch.get_num_threads()
    try:
        configure_threads(1)
        assert torch.get_num_threads() == 1
        configure_threads(None)
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError):
            configure_threads(0)
    finally:
        torch.set_num_threads(before)
