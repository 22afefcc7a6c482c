"""The public surface: __all__, lazy imports, factories, serialisation, explanations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import paraminit as pi
import paraminit.numpy as pn

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_all_is_sorted_and_importable():
    assert pi.__all__ == sorted(pi.__all__)
    assert len(set(pi.__all__)) == len(pi.__all__)
    for name in pi.__all__:
        assert getattr(pi, name) is not None, name
    namespace: dict = {}
    exec(f"from paraminit import {', '.join(pi.__all__)}", namespace)
    assert set(pi.__all__) <= set(namespace)
    assert set(pi.__all__) <= set(dir(pi))


def test_submodule_all_sorted():
    from paraminit import _errors
    from paraminit.core import engines, fans, gains, schemes, spec, stream, structured

    for module in (_errors, fans, gains, spec, schemes, engines, stream, structured, pn):
        assert module.__all__ == sorted(module.__all__), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        pi.nope  # noqa: B018


def test_version():
    assert isinstance(pi.__version__, str) and pi.__version__.count(".") >= 1


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": SRC}, check=True, timeout=120)
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import paraminit",
        "import paraminit as pi; pi.resolve('he_normal', (3, 3)); pi.gain('relu')",
        "import paraminit.numpy as pn; pn.sample('orthogonal', (4, 4), seed=0)",
    ],
)
def test_core_imports_no_framework(code):
    modules = _modules_after(code)
    for framework in ("torch", "jax", "tensorflow", "keras", "flax"):
        assert framework not in modules, (code, framework)


def test_import_is_lazy():
    modules = _modules_after("import paraminit")
    assert "paraminit.core.schemes" not in modules
    assert "scipy" not in modules


@pytest.mark.parametrize("name", sorted([*pi.REGISTRY, *pi.ALIASES]))
def test_numpy_factory_exists(name):
    assert callable(getattr(pn, name))
    assert callable(getattr(pn, name)())


@pytest.mark.parametrize("scheme", pi.schemes(), ids=lambda s: s.name)
def test_registry_entries_are_complete(scheme):
    assert scheme.name in pi.REGISTRY and pi.get_scheme(scheme.name) is scheme
    assert scheme.summary and scheme.formula and scheme.paper and scheme.family
    for alias in scheme.aliases:
        assert pi.ALIASES[alias] == scheme.name and pi.get_scheme(alias) is scheme
    assert [s.name for s in pi.schemes()] == sorted(pi.REGISTRY)


@pytest.mark.parametrize("scheme", pi.schemes(), ids=lambda s: s.name)
def test_to_dict_is_json(scheme):
    spec = pi.resolve(scheme.name, scheme.probe_shape)
    data = spec.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["scheme"] == scheme.name
    assert back["shape"] == list(scheme.probe_shape)
    assert back["std"] == spec.std and back["mean"] == spec.mean
    assert back["paper"] == scheme.paper


def test_to_dict_of_truncated_and_transposed():
    spec = pi.resolve("he_normal", (64, 32, 4, 4), transposed=True, stride=2,
                      distribution="truncated_normal")
    data = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    assert data["truncation"] == [-2.0, 2.0]
    assert data["fan_in"] == 256 and data["fan_out"] == 512
    assert data["parent_std"] == pytest.approx(spec.std / 0.87962566103423978)


# the paper (author, year) each scheme's explanation must cite, from the literature
PAPERS = {
    "xavier_normal": ("Glorot", "2010"),
    "xavier_uniform": ("Glorot", "2010"),
    "he_normal": ("He", "2015"),
    "he_uniform": ("He", "2015"),
    "msra": ("He", "2015"),
    "lecun_normal": ("LeCun", "1998"),
    "lecun_uniform": ("LeCun", "1998"),
    "orthogonal": ("Saxe", "2014"),
    "identity": ("Le", "2015"),
    "sparse": ("Martens", "2010"),
    "variance_scaling": ("Glorot", "2010"),
}


@pytest.mark.parametrize("scheme", pi.schemes(), ids=lambda s: s.name)
def test_explain_mentions_paper(scheme):
    spec = pi.resolve(scheme.name, scheme.probe_shape)
    text = spec.explain()
    assert f"paper: {scheme.paper}" in text
    assert scheme.name in text and str(scheme.probe_shape) in text
    assert f"{spec.std:.7g}" in text
    for word in PAPERS.get(scheme.name, ()):
        assert word in text, (scheme.name, word)
    for note in scheme.notes:
        assert note in text


def test_explain_reads_fans_and_flags_no_op_truncation():
    text = pi.resolve("he_normal", (256, 128, 3, 3)).explain()
    assert "1152" in text and "(out, in/groups, *kernel)" in text
    wide = pi.resolve("truncated_normal", (4, 4), truncate=50.0).explain()
    assert "nothing is truncated" in wide
    assert "nothing is truncated" not in pi.resolve("truncated_normal", (4, 4)).explain()
