"""Keras 3 initializers with paraminit's values: ``keras.initializers``' names, one stream.

Every class is a :class:`keras.initializers.Initializer`. Those named as Keras' own
(``HeNormal``, ``TruncatedNormal``, ``Orthogonal``, ...) take Keras' arguments with Keras'
defaults and meaning; one more class per paraminit scheme that Keras lacks (``Msra``,
``DeltaOrthogonal``, ``Sparse``, ...) takes that scheme's options as keyword arguments.
Each maps to a paraminit scheme resolved in the ``"keras"`` layout, (*kernel, in, out), so
the fans are those of Keras' ``compute_fans`` (fan_in = in x receptive field), and its
values come from :func:`paraminit.numpy.sample`: a pure function of (seed, name, element
index), see ``docs/streams.md`` and ``docs/keras.md``.

Seeds: ``seed=int`` gives the stream ``Stream(seed, name)``, the same values on every call
(as Keras' seeded initializers). ``seed=None`` (the default) gives fresh values on each
call: a paraminit seed is drawn from a :class:`keras.random.SeedGenerator` the initializer
owns, seeded from Keras' global seed, so ``keras.utils.set_random_seed(n)`` reproduces a
whole model (Keras' own unseeded initializers repeat one draw instead). A
``SeedGenerator`` may be passed as ``seed``, as in Keras. ``name`` keys the stream: pass
the torch parameter name (``HeNormal(seed=0, name="fc.weight")``) to get the values of
``paraminit.torch`` on the same layer, transposed.

Example:
    >>> import paraminit.keras as pk
    >>> layer = keras.layers.Dense(64, kernel_initializer=pk.HeNormal(seed=0, name="fc"))
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import keras
import numpy as np

from . import numpy as _numpy
from ._errors import InitError
from .core import validate as _validate
from .core.engines.cast import check_magnitude, clip_bounds
from .core.fans import explicit_axes
from .core.schemes import REGISTRY, get_scheme, resolve, resolve_on_axes, validate
from .core.spec import InitSpec, truncated_std_factor
from .core.stream import Stream

# The std of N(0, 1) cut at +-2: Keras' TruncatedNormal(stddev) has result std
# stddev x 0.87962566103423978 (its stddev is the parent std, cut at 2 parent stds).
_KERAS_TRUNCATION = 2.0
_TRUNCATED_STD = truncated_std_factor(-_KERAS_TRUNCATION, _KERAS_TRUNCATION)
_HALF = ("float16", "bfloat16")
# Laws with no randomness: their classes take no seed and no stream name.
_DETERMINISTIC = frozenset({"constant", "identity", "dirac", "identity_hadamard"})
_SEED_WORD_BITS = 16  # a 64-bit paraminit seed from four 16-bit draws (int32 on every backend)
_SEED_WORDS = 4
_REGISTER = keras.saving.register_keras_serializable(package="paraminit")

_SEED_POLICY = (
    "Seed: ``seed=int`` (in [0, 2**64 - 1]) uses the stream ``Stream(seed, name)``: the same "
    "values on every call. ``seed=None`` draws a fresh paraminit seed on each call from a "
    "``keras.random.SeedGenerator`` this initializer owns (seeded from Keras' global seed, "
    "so ``keras.utils.set_random_seed(n)`` reproduces a model; Keras' own unseeded "
    "initializers repeat one draw). A ``keras.random.SeedGenerator`` may be passed too. "
    "``name`` keys the stream: for equality with ``paraminit.torch`` pass the torch "
    "parameter name, e.g. ``name=\"fc.weight\"``."
)
_KERAS_FANS_NOTE = (
    "Fans as Keras' ``compute_fans``: (in, out) and (*kernel, in, out) give fan_in = "
    "in x receptive field; a 1-D shape (n,) has fan_in = fan_out = n and a 0-D one 1 "
    "(paraminit computes no fans below 2-D; here Keras' reading is used); an empty shape "
    "gives an empty tensor (Keras' max(1, fan))."
)


class SchemeInitializer(keras.initializers.Initializer):
    """A paraminit scheme with fixed options, as a Keras initializer (the base class).

    ``arguments`` are the constructor's (Keras' own for Keras' names, else the scheme's
    options), ``options`` the paraminit scheme options they mean; :meth:`resolve` gives the
    :class:`~paraminit.InitSpec` for a shape, with its formula and fans explained.
    """

    scheme: ClassVar[str]
    random: ClassVar[bool]
    __signature__: ClassVar[inspect.Signature]
    _translate: ClassVar[Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        try:
            bound = cls.__signature__.bind(*args, **kwargs)
        except TypeError as error:
            raise InitError(
                f"{cls.__name__}: {error}; its arguments are {cls.__signature__}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        seed = arguments.pop("seed", None)
        self.name = _validate.text("name", arguments.pop("name", ""))
        self.arguments, self.options = cls._translate(arguments)
        validate(self.scheme, {"layout": "keras", **self.options})
        for key, value in self.arguments.items():
            setattr(self, key, value)
        if self.random:
            self._init_seed, self.seed = _seed(seed, self.name)

    def resolve(self, shape: Sequence[int]) -> InitSpec:
        """The spec for ``shape`` in Keras' layout (with Keras' fans for 0-D and 1-D shapes)."""
        dims = _validate.shape(shape)
        if self.arguments.get("input_axes") is not None:
            return self._resolve_on_axes(dims)
        if len(dims) >= 2 or get_scheme(self.scheme).family != "variance_scaling":
            return resolve(self.scheme, dims, layout="keras", **self.options)
        # Keras' compute_fans reads (n,) as fan_in = fan_out = n and () as 1: the square
        # (n, n) has exactly those fans.
        n = dims[0] if dims else 1
        spec = resolve(self.scheme, (n, n), layout="keras", **self.options)
        return replace(spec, shape=dims, element_order=None, notes=(
            *spec.notes,
            f"Keras reads the {len(dims)}-D shape {dims} as fan_in = fan_out = {n}"))

    def _resolve_on_axes(self, dims: tuple[int, ...]) -> InitSpec:
        """Keras' ``compute_fans`` with axes: fan_in = prod(shape[input_axes]), fan_out =
        prod(shape[output_axes]), the other axes in neither (no receptive field)."""
        ins = explicit_axes(dims, self.arguments["input_axes"], "input_axes")
        outs = explicit_axes(dims, self.arguments["output_axes"], "output_axes")
        if set(ins) & set(outs):
            raise InitError(f"input_axes {ins} and output_axes {outs} share an axis of shape "
                            f"{dims}; an axis counts in one fan only")
        fan_in, fan_out = math.prod(dims[a] for a in ins), math.prod(dims[a] for a in outs)
        spec = resolve_on_axes(self.scheme, dims, fan_in, fan_out, ins, outs, "keras",
                               **self.options)
        return replace(spec, notes=(
            *spec.notes, f"fans from input_axes {ins} (fan_in = {fan_in}) and output_axes "
            f"{outs} (fan_out = {fan_out}), as Keras reads them"))

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        """Values for ``shape`` in ``dtype`` (``None``: ``keras.config.floatx()``)."""
        dims = _validate.shape(shape)
        target = keras.backend.standardize_dtype(dtype)
        sampled = self._sample_dtype(target)
        if math.prod(dims) == 0:
            return keras.ops.zeros(dims, dtype=target)
        spec = self.resolve(dims)
        values = _numpy.sample(spec, seed=self._draw_seed(), name=self.name, dtype=sampled)
        if target in _HALF:
            values = _for_half(values, spec, target)
        tensor = keras.ops.convert_to_tensor(values)
        return tensor if target == sampled else keras.ops.cast(tensor, target)

    def _sample_dtype(self, target: str) -> str:
        if target == "float64":
            return "float64"
        if target in ("float32", *_HALF):
            return "float32"
        if not self.random:  # Keras' Zeros/Ones/Constant fill integer and bool tensors too
            return "float64"
        raise InitError(
            f"{type(self).__name__}: dtype must be a floating dtype (float16, bfloat16, "
            f"float32, float64); received {target!r}. Random values need a float tensor")

    def _draw_seed(self) -> int:
        if not self.random:
            return 0
        if isinstance(self.seed, int):
            return self.seed
        words = keras.ops.convert_to_numpy(keras.random.randint(
            (_SEED_WORDS,), 0, 2**_SEED_WORD_BITS, seed=self.seed, dtype="int32"))
        return sum(int(word) << (_SEED_WORD_BITS * i) for i, word in enumerate(words))

    def get_config(self) -> dict[str, Any]:
        config = dict(self.arguments)
        if self.random:
            config["seed"] = (self._init_seed if not isinstance(
                self._init_seed, keras.random.SeedGenerator)
                else keras.saving.serialize_keras_object(self._init_seed))
            config["name"] = self.name
        return config

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({shown})"


def _seed(seed: Any, name: str) -> tuple[Any, Any]:
    """(the seed as given, for get_config; the seed drawn from: an int or a SeedGenerator)."""
    if isinstance(seed, dict):  # a serialised SeedGenerator, as Keras' get_config writes it
        seed = keras.saving.deserialize_keras_object(seed)
    if seed is None:
        return None, keras.random.SeedGenerator()
    if isinstance(seed, keras.random.SeedGenerator):
        return seed, seed
    if _validate.is_bool(seed) or not isinstance(seed, (int, np.integer)):
        raise InitError(
            f"seed must be None, an int in [0, 2**64 - 1] or a keras.random.SeedGenerator; "
            f"received {_validate.show(seed)}")
    number = Stream(int(seed), name).seed  # the range check of every paraminit seed
    return number, number


def _for_half(values: np.ndarray, spec: InitSpec, target: str) -> np.ndarray:
    """float32 values ready for one cast to float16/bfloat16 by paraminit's cast policy:
    refused when they overflow, bounded laws clipped to their bounds rounded inward."""
    check_magnitude(float(np.abs(values).max()), target)
    if spec.bounds is not None:
        low, high = clip_bounds(spec.bounds, target)
        values = np.clip(values, np.float32(low), np.float32(high))
    return values


# ---------------------------------------------------------------------------------------
# Keras' names: arguments -> (Keras' normalised arguments, paraminit options)

_Translate = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
_KERAS_DISTRIBUTIONS = {  # Keras' name -> paraminit's (Keras reads "normal" as truncated)
    "truncated_normal": "truncated_normal", "normal": "truncated_normal",
    "untruncated_normal": "normal", "uniform": "uniform",
}


def _fan_axes(a: dict[str, Any]) -> dict[str, Any]:
    """Keras' ``input_axes``/``output_axes``: both None, or both non-empty lists of ints
    (checked against the shape at call time). Keras ignores one given alone; that is an
    InitError here."""
    given = {key: a[key] for key in ("input_axes", "output_axes")}
    if all(value is None for value in given.values()):
        return a
    if any(value is None for value in given.values()):
        raise InitError(
            f"input_axes and output_axes go together (received input_axes="
            f"{_validate.show(given['input_axes'])}, output_axes="
            f"{_validate.show(given['output_axes'])}): Keras reads fans from them only when "
            "both are given. Give both, or neither for the layout (*kernel, in, out)")
    for key, value in given.items():
        if (not isinstance(value, Sequence) or isinstance(value, str) or not value
                or not all(isinstance(axis, (int, np.integer)) and not _validate.is_bool(axis)
                           for axis in value)):
            raise InitError(f"{key} must be None or a non-empty list of ints; received "
                            f"{_validate.show(value)}")
        given[key] = [int(axis) for axis in value]
    return {**a, **given}


def _variance_scaling(a: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    a = _fan_axes(a)
    given = a["distribution"]
    distribution = _validate.choice("distribution", given.lower() if isinstance(given, str)
                                    else given, tuple(_KERAS_DISTRIBUTIONS))
    if distribution == "normal":
        distribution = "truncated_normal"
    a = {**a, "distribution": distribution}
    return a, {"scale": a["scale"], "mode": a["mode"],
               "distribution": _KERAS_DISTRIBUTIONS[distribution]}


def _preset(**options: Any) -> _Translate:
    def translate(a: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return _fan_axes(a), dict(options)

    return translate


def _renamed(**names: str) -> _Translate:
    """Keras' argument names -> the scheme's (``stddev`` -> ``std``)."""
    return lambda a: (a, {names.get(key, key): value for key, value in a.items()})


def _random_normal(a: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return a, {"mean": a["mean"], "std": _validate.real("stddev", a["stddev"], positive=True)}


def _truncated_normal(a: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    parent = _validate.real("stddev", a["stddev"], positive=True)
    return a, {"mean": a["mean"], "std": parent * _TRUNCATED_STD, "truncate": _KERAS_TRUNCATION}


def _random_uniform(a: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    low = _validate.real("minval", a["minval"])
    high = _validate.real("maxval", a["maxval"])
    if not low < high:
        raise InitError(f"minval must be < maxval; received minval={a['minval']!r}, "
                        f"maxval={a['maxval']!r}. Swap them, or use Constant for one value")
    return a, {"low": low, "high": high}


_P = inspect.Parameter
_AXES = (("input_axes", None), ("output_axes", None))
_SEEDED = (("seed", None), *_AXES)

# (Keras name, scheme, Keras' arguments in Keras' order with defaults, translation, note)
_KERAS: tuple[tuple[str, str, tuple[tuple[str, Any], ...], _Translate, str], ...] = (
    ("VarianceScaling", "variance_scaling",
     (("scale", 1.0), ("mode", "fan_in"), ("distribution", "truncated_normal"), *_SEEDED),
     _variance_scaling,
     "Keras' distributions: 'truncated_normal' (alias 'normal': result std sqrt(scale / n), "
     "parent std that / 0.8796..., cut at +-2 parent stds), 'untruncated_normal' "
     "(paraminit's 'normal'), 'uniform' (limit sqrt(3 scale / n)). mode also takes "
     "paraminit's 'fan_geo_avg'."),
    ("GlorotNormal", "xavier_normal", _SEEDED, _preset(distribution="truncated_normal"),
     "Keras' truncated normal: result std sqrt(2 / (fan_in + fan_out)), cut at +-2 parent "
     "stds."),
    ("GlorotUniform", "xavier_uniform", _SEEDED, _preset(), "limit sqrt(6 / (fan_in + fan_out))."),
    ("HeNormal", "he_normal", _SEEDED, _preset(distribution="truncated_normal"),
     "Keras' truncated normal: result std sqrt(2 / fan_in), cut at +-2 parent stds."),
    ("HeUniform", "he_uniform", _SEEDED, _preset(), "limit sqrt(6 / fan_in)."),
    ("LecunNormal", "lecun_normal", _SEEDED, _preset(distribution="truncated_normal"),
     "Keras' truncated normal: result std sqrt(1 / fan_in), cut at +-2 parent stds."),
    ("LecunUniform", "lecun_uniform", _SEEDED, _preset(), "limit sqrt(3 / fan_in)."),
    ("Orthogonal", "orthogonal", (("gain", 1.0), ("seed", None)), _renamed(),
     "Keras flattens to (prod(shape[:-1]), shape[-1]); paraminit factors the transpose "
     "(out-axis x rest), the same Haar law. gain multiplies the matrix (std), must be > 0."),
    ("RandomNormal", "normal", (("mean", 0.0), ("stddev", 0.05), ("seed", None)),
     _random_normal, "stddev must be > 0 (Keras would return the constant mean for 0)."),
    ("RandomUniform", "uniform", (("minval", -0.05), ("maxval", 0.05), ("seed", None)),
     _random_uniform, "minval must be < maxval."),
    ("TruncatedNormal", "truncated_normal", (("mean", 0.0), ("stddev", 0.05), ("seed", None)),
     _truncated_normal,
     "Keras' meaning: stddev is the *parent* std, values cut at mean +- 2 stddev; the "
     "result's std is 0.87962566 x stddev (paraminit's truncated_normal takes the result's "
     "std: std = 0.87962566 x stddev, truncate = 2)."),
    ("Zeros", "zeros", (), _renamed(), "Integer and bool dtypes too, as Keras."),
    ("Ones", "ones", (), _renamed(), "Integer and bool dtypes too, as Keras."),
    ("Constant", "constant", (("value", 0.0),), _renamed(),
     "value must be a finite real number (Keras also takes a scalar tensor)."),
    ("Identity", "identity", (("gain", 1.0),), _renamed(),
     "2-D shapes only, as Keras; ones on the main diagonal of a rectangular matrix; gain "
     "must be > 0."),
)


def _camel(scheme: str) -> str:
    return "".join(part.capitalize() for part in scheme.split("_"))


def _doc(class_name: str, scheme: str, note: str, options: str, example: str,
         random: bool) -> str:
    entry = REGISTRY[scheme]
    lines = [
        f"{entry.summary[0].upper()}{entry.summary[1:]} (paraminit scheme ``{scheme}``"
        f"{options}), as a Keras initializer.",
        "",
        f"Formula: {entry.formula}.",
        f"Paper: {entry.paper}.",
        "",
        f"Note: {note}" if note else "",
        *(f"Note: {text}" for text in entry.notes),
        _KERAS_FANS_NOTE if entry.family == "variance_scaling" else "",
        "",
        _SEED_POLICY if random else "Deterministic: takes no seed and no stream name.",
        "",
        "Example:",
        f"    >>> init = {class_name}({example})",
        "    >>> values = init((3, 3, 64, 128))" if entry.probe_shape != (1024, 1024) or
        entry.family == "variance_scaling" else "    >>> values = init((64, 128))",
    ]
    return "\n".join(line for i, line in enumerate(lines) if line or lines[i - 1])


def _make(class_name: str, scheme: str, parameters: list[inspect.Parameter],
          translate: _Translate, random: bool, doc: str) -> type[SchemeInitializer]:
    if random:
        if "seed" not in (p.name for p in parameters):
            parameters.append(_P("seed", _P.KEYWORD_ONLY, default=None))
        parameters.append(_P("name", _P.KEYWORD_ONLY, default=""))
    namespace = {
        "scheme": scheme, "random": random, "_translate": staticmethod(translate),
        "__signature__": inspect.Signature(parameters), "__doc__": doc,
        "__module__": __name__, "__qualname__": class_name,
    }
    return _REGISTER(type(class_name, (SchemeInitializer,), namespace))


def _classes() -> dict[str, type[SchemeInitializer]]:
    classes = {}
    for class_name, scheme, arguments, translate, note in _KERAS:
        random = resolve(scheme, REGISTRY[scheme].probe_shape,
                         layout="keras").distribution not in _DETERMINISTIC
        parameters = [_P(key, _P.POSITIONAL_OR_KEYWORD, default=value)
                      for key, value in arguments]
        example = "seed=0, name=\"conv1.kernel\"" if random else ""
        classes[class_name] = _make(class_name, scheme, parameters, translate, random,
                                    _doc(class_name, scheme, note, "", example, random))
    covered = {scheme for _, scheme, *_ in _KERAS}
    for scheme, entry in REGISTRY.items():
        if scheme in covered:
            continue
        class_name = _camel(scheme)
        assert class_name not in classes, class_name
        random = resolve(scheme, entry.probe_shape,
                         layout="keras").distribution not in _DETERMINISTIC
        parameters = [_P(key, _P.KEYWORD_ONLY, default=value)
                      for key, value in entry.defaults.items()]
        options = ", ".join(f"{k}={v!r}" for k, v in entry.defaults.items())
        example = ", ".join(filter(None, [options, "seed=0" if random else ""]))
        classes[class_name] = _make(
            class_name, scheme, parameters, _renamed(), random,
            _doc(class_name, scheme, "", f"; options {options}" if options else "", example,
                 random))
    return classes


_CLASSES = _classes()
globals().update(_CLASSES)

__all__ = sorted(["SchemeInitializer", "classes", *_CLASSES])


def __dir__() -> list[str]:
    return __all__


def classes() -> Mapping[str, type[SchemeInitializer]]:
    """Every initializer class by name (Keras' names and the generated ones)."""
    return dict(_CLASSES)
