"""Per-patient phantom work, run by any compute backend: one acquisition, every reconstruction.

A top-level function of plain arguments (picklable for worker processes); the expensive
acquisition is rendered once per patient and reconstructed under every condition.
"""
from __future__ import annotations

from typing import Any

import SimpleITK as sitk

from lung_fm_robustness.manifest import scan_id
from lung_fm_robustness.phantom import study as phantom


def render_patient(
    phantom_params: dict[str, Any], index: int, layout: dict[str, str]
) -> dict[str, sitk.Image]:
    """Patient ``index``'s volumes and masks under every configured condition, keyed
    ``<layout.images>/<scan_id>`` and ``<layout.masks>/<scan_id>``."""
    config = phantom.PhantomConfig.from_params(phantom_params)
    spec = phantom.draw_patient(config, index)
    acquisition = phantom.render_acquisition(config, spec)
    partitions = {}
    for kernel in config.kernels:
        for thickness in config.slice_thicknesses_mm:
            key = scan_id(spec.patient_id, kernel, thickness)
            partitions[f"{layout['images']}/{key}"] = phantom.reconstruct(config, acquisition, kernel, thickness)
            partitions[f"{layout['masks']}/{key}"] = phantom.nodule_mask(config, spec, kernel, thickness)
    return partitions
