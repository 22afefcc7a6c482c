"""The arithmetic of stream v2's transforms, written once for every engine.

Every function here uses only ``+``, ``-``, ``*`` and ``/`` on its arguments (and loops over
constant tuples; :func:`ndtri_far` also the ``log`` and ``sqrt`` its engine passes), so
the same source runs on NumPy arrays, torch tensors, jax arrays and numba scalars.
Those four operations are correctly rounded in IEEE-754 float64 on every engine, and no
engine here contracts ``a * b + c`` into a fused multiply-add (NumPy and torch evaluate one
operation per kernel; numba compiles without ``fastmath``), so every engine gets the same
bits. What differs between engines (``frexp``, ``sqrt``, selecting by a condition) is the
engine's own, and each of those is exact or correctly rounded too.

The polynomial and rational constants:

* log: fdlibm's ``e_log.c`` (Sun Microsystems, 1993): ``log(1 + x) = 2 atanh(s)``,
  ``s = x / (2 + x)``, with a degree-14 minimax polynomial in s (``Lg1..Lg7``); error
  below 1 ulp on ``[sqrt(1/2), sqrt(2))``.
* sin and cos of ``(pi/2) f`` for ``|f| <= 1/2``: Taylor series of ``sin`` and ``cos`` at 0
  with the ``(pi/2)^k / k!`` folded in (computed with mpmath at 50 digits, rounded once);
  the first omitted term is below 1e-19.
* The normal quantile: Wichura (1988), "Algorithm AS 241: The Percentage Points of the
  Normal Distribution", Applied Statistics 37(3), 477-484, PPND16 (relative error about
  1e-16 for ``p >= 1e-300``).
* Far tails of the truncated normal: Newton steps on ``log Phi(x)`` with the asymptotic
  series of Mills' ratio, ``Phi(x) = phi(x)/(-x) * (1 - 1/x^2 + 3/x^4 - ...)`` for
  ``x -> -inf`` (Abramowitz & Stegun 1964, 26.2.12).
"""

from __future__ import annotations

__all__ = [
    "HALF_LOG_2PI", "SQRT_HALF", "cos_half_pi", "log_reduced", "mills_series",
    "ndtri_central", "ndtri_far", "ndtri_far_tail", "ndtri_near_tail", "sin_half_pi",
]

# ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (fdlibm e_log.c).
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
LG1, LG2, LG3, LG4 = (6.666666666666735130e-01, 3.999999999940941908e-01,
                      2.857142874366239149e-01, 2.222219843214978396e-01)
LG5, LG6, LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01
# The reduced mantissa lies in [SQRT_HALF, 2 * SQRT_HALF); the float nearest sqrt(1/2).
SQRT_HALF = 0.7071067811865476
# 0.5 * ln(2 pi)
HALF_LOG_2PI = 0.9189385332046728

# (-1)^j (pi/2)^(2j+1) / (2j+1)!, j = 8 .. 0 (highest first, for Horner).
_SIN = (6.0669357311061955e-12, -6.688035109811468e-10, 5.692172921967927e-08,
        -3.598843235212085e-06, 0.00016044118478735983, -0.004681754135318688,
        0.07969262624616705, -0.6459640975062463, 1.5707963267948966)
# (-1)^j (pi/2)^(2j) / (2j)!, j = 9 .. 0.
_COS = (-5.294400200734623e-13, 6.565963114979473e-11, -6.386603083791852e-09,
        4.710874778818172e-07, -2.5202042373060607e-05, 0.0009192602748394266,
        -0.02086348076335296, 0.25366950790104803, -1.2337005501361697, 1.0)

# AS 241 PPND16, coefficients highest degree first.
_A = (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
      4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
      1.3314166789178437745e+2, 3.3871328727963666080e+0)
_B = (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
      2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
      4.2313330701600911252e+1, 1.0)
_C = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
      1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
      4.63033784615654529590e+0, 1.42343711074968357734e+0)
_D = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
      1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
      2.05319162663775882187e+0, 1.0)
_E = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
      2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
      5.46378491116411436990e+0, 6.65790464350110377720e+0)
_F = (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
      7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
      5.99832206555887937690e-1, 1.0)
# Mills' ratio series 1 - y + 3y^2 - 15y^3 + ... in y = 1/x^2, highest first: (2k-1)!! (-1)^k.
_MILLS = (-135135.0, 10395.0, -945.0, 105.0, -15.0, 3.0, -1.0, 1.0)


def _horner(coefficients, x):
    acc = coefficients[0] + 0.0 * x
    for c in coefficients[1:]:
        acc = acc * x + c
    return acc


def log_reduced(f, k):
    """ln(f * 2^k) for f in [SQRT_HALF, 2 * SQRT_HALF) and an integer-valued float k."""
    x = f - 1.0  # exact (Sterbenz)
    s = x / (2.0 + x)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    hfsq = 0.5 * x * x
    return k * LN2_HI - ((hfsq - (s * (hfsq + (t2 + t1)) + k * LN2_LO)) - x)


def sin_half_pi(f):
    """sin(pi f / 2) for |f| <= 1/2."""
    return f * _horner(_SIN, f * f)


def cos_half_pi(f):
    """cos(pi f / 2) for |f| <= 1/2."""
    return _horner(_COS, f * f)


def ndtri_central(q):
    """Phi^-1(1/2 + q) for |q| <= 0.425 (AS 241, region 1)."""
    r = 0.180625 - q * q
    return q * _horner(_A, r) / _horner(_B, r)


def ndtri_near_tail(r):
    """|Phi^-1(p)| for r = sqrt(-ln p) <= 5 (AS 241, region 2)."""
    t = r - 1.6
    return _horner(_C, t) / _horner(_D, t)


def ndtri_far_tail(r):
    """|Phi^-1(p)| for r = sqrt(-ln p) > 5 (AS 241, region 3)."""
    t = r - 5.0
    return _horner(_E, t) / _horner(_F, t)


def mills_series(y):
    """S(x) with Phi(x) = phi(x) / (-x) * S(x), y = 1/x^2; error < 3e-18 for |x| >= 35."""
    return _horner(_MILLS, y)


def ndtri_far(log_p, log, sqrt):
    """Phi^-1 of exp(log_p) for log_p < -640: AS 241's start, then three Newton steps on
    log Phi(x) = log_p with the Mills-ratio series (A&S 26.2.12). ``log`` and ``sqrt`` are
    the engine's own (each exact or correctly rounded; see the module docstring)."""
    x = -ndtri_far_tail(sqrt(-log_p))
    for _ in range(3):
        series = mills_series(1.0 / (x * x))
        gap = -0.5 * x * x - log(-x) - HALF_LOG_2PI + log(series) - log_p
        x = x + gap * series / x
    return x
