"""Atomic operations on int64 array elements, for threads of one Numba parallel loop.

Numba offers no atomics on CPU arrays; these intrinsics emit LLVM's atomic
instructions, so a thread can publish its progress (a release store after
plain writes) and another can wait for it (acquire loads in a spin loop that
the compiler may not hoist). :func:`rendezvous` lets the iterations of a
``prange`` check that they really run at the same time before any of them
waits on another, so a loop whose iterations were serialised gives up instead
of deadlocking.

These functions and constants are compiled into the cached kernels of
:mod:`ising._fast_square`; Numba's cache watches only that module's file, so
after editing this one delete ``ising/__pycache__``.
"""

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Spins (each with a CPU pause hint) a thread waits for the others to arrive
#: before :func:`rendezvous` gives up: milliseconds to tens of milliseconds on
#: x86, depending on the pause instruction's latency; without it (other CPUs) about
#: a millisecond.
RENDEZVOUS_SPINS = 1 << 20

#: int64 elements between counters of different threads (one 64-byte cache line).
STRIDE = 8

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

_PENDING = 0
_GO = 1
_ABORTED = -1


def _element_pointer(context, builder, signature, args):
    array_type, index_type = signature.args[0], signature.args[1]
    array = context.make_array(array_type)(context, builder, args[0])
    index = context.cast(builder, args[1], index_type, types.intp)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index])


@intrinsic
def load_acquire(typingctx, array, index):
    """``array[index]`` (int64) read with acquire ordering."""

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_element_pointer(context, builder, signature, args), "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def store_release(typingctx, array, index, value):
    """``array[index] = value`` (int64) with release ordering."""

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(value, _element_pointer(context, builder, signature, args), "release", 8)
        return context.get_dummy_value()

    return types.none(array, index, value), codegen


@intrinsic
def fetch_add(typingctx, array, index, value):
    """Add ``value`` to ``array[index]`` (int64) atomically; returns the old value."""

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        pointer = _element_pointer(context, builder, signature, args)
        return builder.atomic_rmw("add", pointer, value, "acq_rel")

    return types.int64(array, index, value), codegen


@intrinsic
def compare_exchange(typingctx, array, index, expected, value):
    """Set ``array[index]`` (int64) to ``value`` if it holds ``expected``; returns the value found."""

    def codegen(context, builder, signature, args):
        expected = context.cast(builder, args[2], signature.args[2], types.int64)
        value = context.cast(builder, args[3], signature.args[3], types.int64)
        pointer = _element_pointer(context, builder, signature, args)
        pair = builder.cmpxchg(pointer, expected, value, "acq_rel", "acquire")
        return builder.extract_value(pair, 0)

    return types.int64(array, index, expected, value), codegen


@intrinsic
def cpu_relax(typingctx):
    """A spin-wait hint to the CPU (x86 ``pause``; nothing elsewhere)."""

    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"
            )
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.none(), codegen


@njit(inline="always")
def pause(spins):
    """``spins`` spin-wait hints: a delay that holds the thread (to shuffle timing in tests)."""
    for _ in range(spins):
        cpu_relax()


@njit(inline="always")
def wait_at_least(counters, index, target):
    """Spin until ``counters[index]`` (int64, written by another thread) reaches ``target``."""
    while load_acquire(counters, index) < target:
        cpu_relax()


@njit(inline="always")
def rendezvous(sync, n_threads, spins):
    """True once all ``n_threads`` callers are running at the same time; False for all if one gave up.

    ``sync`` int64: element 0 counts arrivals, element :data:`STRIDE` holds the
    outcome (0 pending, 1 go, -1 aborted); both start at 0. The last to arrive
    says go; a caller that waits ``spins`` spins says aborted, and whichever of
    the two comes first holds for everybody.
    """
    if fetch_add(sync, 0, 1) == n_threads - 1:
        compare_exchange(sync, STRIDE, _PENDING, _GO)
    waited = 0
    while load_acquire(sync, STRIDE) == _PENDING:
        if waited >= spins:
            compare_exchange(sync, STRIDE, _PENDING, _ABORTED)
        waited += 1
        cpu_relax()
    return load_acquire(sync, STRIDE) == _GO
