"""Build fastopt's compiled kernels, with or without OpenMP, once per instruction set.

The kernel source fastopt/_kernels.pyx is compiled into fastopt._kernels_baseline (the
platform's baseline instruction set) and, where the compiler can target them (x86-64), also
into fastopt._kernels_avx2 (AVX2) and fastopt._kernels_avx512 (AVX-512 F/CD/BW/DQ/VL, with
512-bit vectors); fastopt/_dispatch.py picks one at import from the CPU's features.  Every
build uses the same flags otherwise, -ffp-contract=off included, so they
agree bit for bit.  What the builds share (the parallel threshold, the after-fork flag) is
the one module fastopt._kernel_state, compiled once.  The loss kernels of linear models,
fastopt/_losses.pyx, are compiled once too (baseline instruction set, with OpenMP).

Environment switches:
  FASTOPT_USE_OPENMP=0|1|auto   force OpenMP off / on (error if unavailable) / probe (default)
  FASTOPT_CYTHON_DEBUG=1        bounds and wraparound checks on, no -O3 (a debug build)
  FASTOPT_SANITIZE=address,undefined
                                a debug build instrumented with these sanitizers (gcc/clang;
                                run it with the runtimes preloaded: tools/sanitize.sh)
"""
import os
import shlex
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SANITIZE = os.environ.get("FASTOPT_SANITIZE", "")
DEBUG = os.environ.get("FASTOPT_CYTHON_DEBUG", "0") == "1" or bool(SANITIZE)
USE_OPENMP = os.environ.get("FASTOPT_USE_OPENMP", "auto").lower()

# One table, keyed on the compiler actually in use: (compile flags, link flags).
OPENMP_FLAGS = {
    "msvc": (["/openmp"], []),
    "apple-clang": (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),
    "unix": (["-fopenmp"], ["-fopenmp"]),
}
OPTIMIZE_FLAGS = {
    "msvc": ["/O2", "/fp:precise"],
    # -fno-math-errno: an errno-setting sqrt blocks vectorization (measured 4x slower).
    # -fno-trapping-math: lets the vectorizer if-convert the NaN-propagating selects.
    # -ffp-contract=off: no FMA contraction, so every build and thread count agree bit for bit.
    # The alias-check budget lets loops over up to ten arrays vectorize.
    "unix": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
             "--param", "vect-max-version-for-alias-checks=64"],
}


def compiler_kind(compiler):
    if compiler.compiler_type == "msvc":
        return "msvc"
    if sys.platform == "darwin":
        return "apple-clang"
    return "unix"


OPENMP_PROBE = """\
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 ? 0 : 1;
}
"""

# An AVX2 intrinsic: compiles only where the compiler targets x86-64 and takes the flag
# (not for arm64, nor for a macOS universal2 build that also targets arm64).
AVX2_PROBE = """\
#include <immintrin.h>
int main(void) {
    __m256i a = _mm256_set1_epi32(1);
    return _mm256_extract_epi32(_mm256_add_epi32(a, a), 0) == 2 ? 0 : 1;
}
"""

# An AVX-512 program (F and BW instructions); the build targets F, CD, BW, DQ and VL, the
# set of every AVX-512 CPU since Skylake-SP (NumPy's AVX512_SKX, which _dispatch asks for),
# and prefers 512-bit vectors: its masked loops read a mask into mask registers, and on an
# Intel Xeon (Sapphire Rapids) 256-bit ones made the float64 masked and decay loops 1.7-3.6x
# slower (bench/RESULTS.md, "Kernel builds side by side").
AVX512_PROBE = """\
#include <immintrin.h>
int main(void) {
    __m512i a = _mm512_set1_epi32(1);
    __mmask64 k = _mm512_test_epi8_mask(a, a);
    return _mm512_reduce_add_epi32(_mm512_add_epi32(a, a)) == 32 && k ? 0 : 1;
}
"""
AVX512_FLAGS = ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512cd",
                "-mprefer-vector-width=512"]

# The instruction-set builds: extra flags by compiler kind, and a program that compiles only
# where the compiler can target the instruction set (None: always; MSVC is not probed).
ISA_BUILDS = {
    "baseline": ({"msvc": [], "apple-clang": [], "unix": []}, None),
    "avx2": ({"msvc": ["/arch:AVX2"], "apple-clang": ["-mavx2"], "unix": ["-mavx2"]},
             AVX2_PROBE),
    "avx512": ({"msvc": ["/arch:AVX512"], "apple-clang": AVX512_FLAGS, "unix": AVX512_FLAGS},
               AVX512_PROBE),
}
# Each build's module: the same source under its own name.
BUILD_MODULES = {f"fastopt._kernels_{isa}": isa for isa in ISA_BUILDS}
# Modules compiled once, for the baseline instruction set, with OpenMP when it is on.
THREADED_MODULES = {"fastopt._losses"}


def try_compile(compiler, code, cflags, ldflags):
    """Compile and link a tiny program with these flags; True if it works.

    The compile step already sees CFLAGS/CPPFLAGS (setuptools adds them to the compiler
    command); linking an executable does not see LDFLAGS, so they are added here, as the
    extension's link will (e.g. -L for a keg-only Homebrew libomp on macOS)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(textwrap.dedent(code))
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            env_ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
            compiler.link_executable(objs, "probe", output_dir=tmp,
                                     extra_postargs=env_ldflags + ldflags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # Always compile: setuptools skips an extension whose build output is newer than its
        # sources, so a rebuild with other switches (OpenMP off, debug) would reuse objects
        # compiled with the old flags.
        self.force = True
        # The builds compile side by side (one per instruction set).
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        kind = compiler_kind(self.compiler)
        cflags, ldflags = OPENMP_FLAGS[kind]
        san_c, san_l = [], []
        if SANITIZE:
            if kind == "msvc":
                raise RuntimeError("FASTOPT_SANITIZE needs gcc or clang")
            san_c = [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer"]
            san_l = [f"-fsanitize={SANITIZE}"]
            cflags, ldflags = cflags + san_c, ldflags + san_l   # the probe links like the build
        if USE_OPENMP == "0":
            use = False
        elif (self.compiler.compiler_type != "msvc"
              and not try_compile(self.compiler, OPENMP_PROBE, cflags, ldflags)):
            if USE_OPENMP == "1":
                raise RuntimeError("FASTOPT_USE_OPENMP=1 but the compiler cannot build "
                                   "OpenMP code")
            print("WARNING: OpenMP not available; fastopt is built serial "
                  "(set FASTOPT_USE_OPENMP=0 to silence, or install an OpenMP runtime).")
            use = False
        else:
            use = True
        print(f"fastopt: building with OpenMP {'on' if use else 'off'} ({kind}), "
              f"{'debug (bounds checks on)' if DEBUG else 'optimized'}"
              f"{', sanitizers ' + SANITIZE if SANITIZE else ''}")
        opt = OPTIMIZE_FLAGS["msvc" if kind == "msvc" else "unix"]
        if DEBUG:       # unoptimized, but with the same floating-point rules
            opt = [] if kind == "msvc" else ["-ffp-contract=off"]
        for ext in list(self.extensions):
            if ext.name in THREADED_MODULES:
                ext.extra_compile_args = opt + (cflags if use else san_c)
                ext.extra_link_args = ldflags if use else san_l
                continue
            if ext.name not in BUILD_MODULES:       # the shared state: no loops, no threads
                ext.extra_compile_args, ext.extra_link_args = opt + san_c, san_l
                continue
            flags, probe = ISA_BUILDS[BUILD_MODULES[ext.name]]
            isa = flags[kind]
            if probe and kind != "msvc" and not try_compile(self.compiler, probe, isa, []):
                print(f"fastopt: skipping {ext.name} (the compiler cannot target it)")
                self.extensions.remove(ext)
                continue
            ext.extra_compile_args = opt + isa + (cflags if use else san_c)
            ext.extra_link_args = ldflags if use else san_l
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "initializedcheck": DEBUG,
        "cdivision": True,
        "embedsignature": True,
    }
    import numpy

    # Each module's C is generated in a folder of its own (one source, a module per build),
    # and a debug build's (other directives) apart from an optimized one's, so that no C file
    # is mistaken for another by cythonize's timestamp check.
    root = os.path.join("build", "cython-debug" if DEBUG else "cython")
    exts = cythonize([Extension("fastopt._kernel_state", ["fastopt/_kernel_state.pyx"])],
                     compiler_directives=directives, build_dir=os.path.join(root, "state"))
    exts += cythonize([Extension("fastopt._losses", ["fastopt/_losses.pyx"],
                                 depends=["fastopt/_kernel_state.pxd"],
                                 include_dirs=[numpy.get_include()],
                                 define_macros=[("NPY_NO_DEPRECATED_API",
                                                 "NPY_1_7_API_VERSION")])],
                      compiler_directives=directives, build_dir=os.path.join(root, "losses"))
    for module, isa in BUILD_MODULES.items():
        ext = Extension(module, ["fastopt/_kernels.pyx"],
                        depends=["fastopt/_openmp.pxd", "fastopt/_kernel_state.pxd"],
                        include_dirs=[numpy.get_include()],   # NumPy's C API (Plan, max_abs)
                        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
        [ext] = cythonize([ext], compiler_directives=directives,
                          build_dir=os.path.join(root, isa))
        # Set after cythonize, which keeps one set of options per source file: given before,
        # the first build's macros would be every build's.
        ext.define_macros = ext.define_macros + [("FASTOPT_ISA", isa)]
        exts.append(ext)
    return exts


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
