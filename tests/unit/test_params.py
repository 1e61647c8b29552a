"""params.yaml and its schema: valid as shipped, one clear error per bad value, comments on keys."""

from __future__ import annotations

import re

import pytest
import yaml

from hyctas.errors import ConfigError
from hyctas.params import flatten, load_params, params_hash, validate_params
from tests.conftest import REPO


def test_repo_params_are_valid(repo_params):
    assert repo_params["base"]["num_classes"] == 19


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "search_space.max_branches",
            4,
            "search_space.max_branches = 4: 4 is greater than the maximum of 3",
        ),
        ("base.device", "gpu", 'base.device = "gpu"'),
        (
            "prepare_data.source",
            "kitti",
            "'kitti' is not one of ['synthetic', 'cityscapes', 'voc', 'folder']",
        ),
        (
            "prepare_data.synthetic.height",
            100,
            "prepare_data.synthetic.height = 100: 100 is not a multiple of 64",
        ),
        ("search_space.ops", ["conv", "mystery"], "search_space.ops[1]"),
        ("select.targets.fast.init", "imagenet", "select.targets.fast"),
        ("select.targets.baseline.init", "supernet", "select.targets.baseline"),
        ("profile_latency.network_repeats", 0, "profile_latency.network_repeats = 0"),
        (
            "prepare_data.train_split",
            "../train",
            "prepare_data.train_split = \"../train\": '../train' does not match",
        ),
        ("prepare_data.voc.class_table", "classes.txt", "prepare_data.voc.class_table"),
        (
            "prepare_data.folder.splits",
            {"train": {"images": "img"}},
            "prepare_data.folder.splits.train = {...}: {'images': 'img'} is not valid",
        ),
        ("prepare_data.search_split.images", 0, "prepare_data.search_split.images = 0"),
    ],
)
def test_invalid_value_names_key_and_allowed(params, key, value, expected):
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[last] = value
    with pytest.raises(ConfigError) as info:
        validate_params(params)
    assert expected in str(info.value)


@pytest.mark.parametrize("name", ["latest", "LATEST", "v2", "V10"])
def test_target_names_mlflow_keeps_for_versions_are_refused(params, name):
    """A target name is a registry alias: MLflow's own (latest, v<n>) fail here, not in report."""
    targets = params["select"]["targets"]
    targets[name] = targets.pop(next(iter(targets)))
    with pytest.raises(ConfigError) as info:
        validate_params(params)
    assert f"select.targets = \"{name}\": '{name}' should not be valid" in str(info.value)
    targets["v2x"] = targets.pop(name)  # a longer name is fine
    validate_params(params)


@pytest.mark.parametrize("name", ["a/b", "exp:1", "it's", 'say "hi"', "50%", "..", ".x", "x" * 248])
def test_experiment_names_mlflow_refuses_as_model_names_are_refused(params, name):
    """`base.mlflow_experiment` prefixes the registered models' names (`<experiment>-searched`)."""
    params["base"]["mlflow_experiment"] = name
    with pytest.raises(ConfigError, match="base.mlflow_experiment = "):
        validate_params(params)
    params["base"]["mlflow_experiment"] = "hyctas-search_quality.v2"
    validate_params(params)


def test_unknown_and_missing_keys(params):
    params["base"]["sed"] = 1
    del params["base"]["seed"]
    with pytest.raises(ConfigError) as info:
        validate_params(params)
    message = str(info.value)
    assert "'sed' was unexpected" in message and "'seed' is a required property" in message


def test_load_params_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_every_key_has_a_comment():
    """Each `key:` line of params.yaml carries a comment, or the line above is a comment."""
    lines = (REPO / "params.yaml").read_text().splitlines()
    missing = []
    for number, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z_]+:", line) and "#" not in line:
            above = lines[number - 1].strip() if number else ""
            is_block = not line.split(":", 1)[1].strip()
            if not above.startswith("#") and not is_block:
                missing.append(f"{number + 1}: {line}")
    assert not missing, "params.yaml keys without a comment:\n" + "\n".join(missing)


def test_schema_has_no_defaults():
    """No schema node carries a `default` keyword (a `default` property name is fine)."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "params.schema.yaml").read_text())

    def defaults(node, in_properties=False):
        if isinstance(node, dict):
            found = [] if in_properties or "default" not in node else [node]
            return found + [d for k, v in node.items() for d in defaults(v, k == "properties")]
        return [d for v in node for d in defaults(v)] if isinstance(node, list) else []

    assert defaults(schema) == [] and schema["additionalProperties"] is False


def test_hash_and_flatten():
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
