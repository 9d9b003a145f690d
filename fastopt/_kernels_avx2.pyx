"""fastopt's kernels built with AVX2 (x86-64 only; setup.py adds -mavx2): imported only on
a CPU that has AVX2.  The source is _kernels.pxi; fastopt._kernels picks a build."""

ISA = "avx2"

include "_kernels.pxi"
