"""fastopt's kernels built for the platform's baseline instruction set (SSE2 on x86-64):
they run on any CPU.  The source is _kernels.pxi; fastopt._kernels picks a build."""

ISA = "baseline"

include "_kernels.pxi"
