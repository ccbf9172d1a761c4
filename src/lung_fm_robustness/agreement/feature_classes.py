"""Which family each feature belongs to, so agreement can be broken down where it fails.

PyRadiomics names a feature ``<image type>_<feature class>_<feature>``, e.g.
``original_glcm_Contrast``; the foundation model's 4,096 features form one class, ``fm``.
"""

from collections.abc import Iterable

FM_CLASS = "fm"
# PyRadiomics' order (its documentation and extractor settings); unknown classes sort after.
CLASS_ORDER = (FM_CLASS, "firstorder", "shape", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def feature_classes(extractor: str, names: Iterable[str]) -> list[str]:
    """The class of every feature of ``extractor`` ("fm" or "radiomics")."""
    names = list(names)
    if extractor == "fm":
        return [FM_CLASS] * len(names)
    if extractor != "radiomics":
        raise ValueError(f"No feature classes are known for extractor {extractor!r}; expected fm or radiomics.")
    malformed = [name for name in names if len(name.split("_")) < 3]
    if malformed:
        raise ValueError(
            f"Radiomics features {malformed[:5]} are not named <image type>_<class>_<feature> "
            "as PyRadiomics names them (e.g. original_glcm_Contrast)."
        )
    return [name.split("_")[1] for name in names]


def class_rank(feature_class: str) -> tuple[int, str]:
    """Sort key putting classes in ``CLASS_ORDER``, others after by name."""
    if feature_class in CLASS_ORDER:
        return CLASS_ORDER.index(feature_class), feature_class
    return len(CLASS_ORDER), feature_class
