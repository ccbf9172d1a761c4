"""Project settings: hooks and the configuration layout (see Kedro's settings docs)."""
from lung_fm_robustness.hooks import InputManifestHook, MissingInputsHook, MlflowLabelsHook

# Hooks run Last-In-First-Out; MissingInputsHook is marked tryfirst.
HOOKS = (InputManifestHook(), MissingInputsHook(), MlflowLabelsHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}
