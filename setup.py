"""Build fastopt's one compiled extension, fastopt._kernels, with or without OpenMP.

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


def try_compile(compiler, cflags, ldflags):
    """Compile and link a tiny OpenMP program with these flags; True if it works.

    The compile step already sees CFLAGS/CPPFLAGS (setuptools adds them to the compiler
    command); linking an executable does not see LDFLAGS, so they are added here, as the
    extension's link will (e.g. -L for a keg-only Homebrew libomp on macOS)."""
    code = textwrap.dedent("""\
        #include <omp.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return omp_get_max_threads() > 0 ? 0 : 1;
        }
        """)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
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
              and not try_compile(self.compiler, cflags, ldflags)):
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
        opt = [] if DEBUG else OPTIMIZE_FLAGS["msvc" if kind == "msvc" else "unix"]
        for ext in self.extensions:
            ext.extra_compile_args = opt + (cflags if use else san_c)
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
    ext = Extension("fastopt._kernels", ["fastopt/_kernels.pyx"])
    # The debug build's C (other directives) is generated apart from the optimized one's, so
    # neither is mistaken for the other by cythonize's timestamp check.
    build_dir = os.path.join("build", "cython-debug") if DEBUG else None
    return cythonize([ext], compiler_directives=directives, build_dir=build_dir)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
