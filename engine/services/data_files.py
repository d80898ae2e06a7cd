"""Reading the YAML data files a province edits (rules, campaigns): one place for clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import NotFoundError, ValidationError


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed file; NotFoundError when it can't be read, ValidationError naming the file when it isn't YAML."""
    file = Path(path)
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise NotFoundError(f"{what} file {file}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ValidationError(
            f"{what} file {file} is not valid YAML: {err}", {"fields": {str(file): str(err)}}
        ) from None
    except ValueError as err:  # a value YAML types but cannot build, such as the date 2024-13-01
        raise ValidationError(f"{what} file {file}: {err}", {"fields": {str(file): str(err)}}) from None
