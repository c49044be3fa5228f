"""Worker-side isolation: a private ``/tmp`` per environment and the memory limit.

Private ``/tmp``
    When the server may create mount namespaces (root, or ``CAP_SYS_ADMIN``),
    each worker calls ``unshare(CLONE_NEWNS)``, makes every mount private
    (``MS_REC | MS_PRIVATE``, so nothing propagates back to the host) and
    bind-mounts its own directory (``<data dir>/engine/tmp/<id>``) on ``/tmp``.
    Directories the worker still needs that live under the real ``/tmp`` (the
    top of the server's data directory tree with the function's code, its layers,
    ``sys.path`` entries, the interpreter prefix — a server started from a
    checkout in ``/tmp`` or a test data dir; see ``tmp_top``) are
    opened (``O_PATH``) before ``/tmp`` is covered and bind-mounted back at the
    same path inside the new ``/tmp``, so they stay visible.  ``TMPDIR`` is then
    ``/tmp``, as on AWS.  When namespaces are not permitted the worker keeps the
    host's ``/tmp`` and only ``TMPDIR``/``TMP``/``TEMP`` point at its private
    directory; the zygote reports that at boot and the engine logs a warning.
    A worker of a root server then drops ``CAP_SYS_ADMIN`` and
    ``CAP_SYS_RESOURCE`` (``drop_capabilities``), so its handler cannot
    unmount that ``/tmp`` or lift its memory limit.

Memory
    ``RLIMIT_DATA`` (private writable memory: heap, anonymous mmaps, thread
    stacks) is set to the worker's data size when it starts — the runtime and
    its preloaded SDK, the *baseline* — plus ``MemorySize`` plus a small
    allowance (``THREAD_ALLOWANCE_MB``) for thread stacks and allocator slack.
    glibc's per-thread malloc arenas are capped at two so threads do not each
    reserve 64 MB of slack.  An allocation past the limit raises
    ``MemoryError`` in the handler, which the runtime reports as
    ``Runtime.OutOfMemory`` and ends the environment (AWS kills the sandbox).
    ``Max Memory Used`` in ``REPORT`` is the worker's peak resident set
    (``VmHWM``): everything the process touched, including runtime pages it
    shares copy-on-write with the zygote — never less than what the handler used.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
#: Room for thread stacks and allocator slack on top of ``MemorySize`` (see the module doc).
THREAD_ALLOWANCE_MB = 64
M_ARENA_MAX = -8

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    if _c().mount(src, target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), target)


def namespaces_supported() -> bool:
    """Can this process create a private mount namespace?  Probed in a throwaway child."""
    if not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:
        try:
            if _c().unshare(CLONE_NEWNS) != 0:
                os._exit(1)
            _mount(None, "/", MS_REC | MS_PRIVATE)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _under_tmp(path: str) -> bool:
    return path == "/tmp" or path.startswith("/tmp/")


def tmp_top(path: str) -> str:
    """The entry directly under ``/tmp`` that contains ``path`` (``""`` if it is not under ``/tmp``).

    The server's data directory tree stays visible in the worker where it lives under ``/tmp``
    (test runs, a checkout in ``/tmp``): the code of functions lives there, and files a test
    asks a function to write there must reach it.  Everything else in the host's ``/tmp`` is hidden.
    """
    real = os.path.realpath(path)
    if not real.startswith("/tmp/"):
        return ""
    return "/tmp/" + real[len("/tmp/") :].split("/", 1)[0]


def paths_to_keep(extra: list[str]) -> list[str]:
    """Directories under the real ``/tmp`` the worker still needs, outermost only."""
    candidates = [*extra, *sys.path, sys.prefix, os.path.dirname(sys.executable)]
    wanted = sorted(
        {os.path.realpath(p) for p in candidates if p and _under_tmp(os.path.realpath(p)) and os.path.isdir(p)}
    )
    kept: list[str] = []
    for path in wanted:
        if path != "/tmp" and not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


#: Where a SnapStart snapshot worker keeps the engine's worker-tmp root reachable, inside its own
#: ``/tmp``, so the environments it forks can bind their directories (hidden once they cover ``/tmp``).
STASH = "/tmp/.cloudlet-environments"


def private_tmp(tmp_path: str, keep: list[str], stash: str | None = None) -> bool:
    """Cover ``/tmp`` with ``tmp_path``; ``False`` (nothing changed) if namespaces are not permitted.

    Everything is opened *after* ``unshare``: a bind mount's source must belong to the
    caller's mount namespace.
    """
    if not sys.platform.startswith("linux"):
        return False
    if _c().unshare(CLONE_NEWNS) != 0:
        return False
    _mount(None, "/", MS_REC | MS_PRIVATE)
    fds: list[int] = []
    try:
        tmp_fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
        fds.append(tmp_fd)
        holds = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in keep]
        fds += [fd for _, fd in holds]
        stash_fd = os.open(stash, os.O_PATH | os.O_DIRECTORY) if stash else None
        if stash_fd is not None:
            fds.append(stash_fd)
        _mount(f"/proc/self/fd/{tmp_fd}", "/tmp", MS_BIND)
        for path, fd in holds:
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, MS_BIND | MS_REC)
        if stash_fd is not None:
            os.makedirs(STASH, exist_ok=True)
            _mount(f"/proc/self/fd/{stash_fd}", STASH, MS_BIND)
        return True
    finally:
        for fd in fds:
            os.close(fd)


def limit_memory(memory_mb: int, *, hard: bool = True) -> int:
    """Cap private memory at baseline + ``memory_mb`` + allowance; returns the limit in bytes (0 = none)."""
    with contextlib.suppress(OSError, AttributeError):
        _c().mallopt(M_ARENA_MAX, 2)
    try:
        with open("/proc/self/status") as status:
            data_kb = next(int(line.split()[1]) for line in status if line.startswith("VmData:"))
    except (OSError, StopIteration, ValueError):
        return 0
    limit = data_kb * 1024 + (memory_mb + THREAD_ALLOWANCE_MB) * 1024 * 1024
    _, current_hard = resource.getrlimit(resource.RLIMIT_DATA)
    new_hard = limit if hard else current_hard
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, new_hard))
    except (ValueError, OSError):
        return 0
    return limit


CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24
PR_CAPBSET_DROP = 24
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities(caps: tuple[int, ...] = (CAP_SYS_ADMIN, CAP_SYS_RESOURCE)) -> bool:
    """Give up the capabilities that would undo the sandbox (``umount /tmp``, raising ``RLIMIT_DATA``).

    A server running as root forks root workers; without ``CAP_SYS_ADMIN`` and
    ``CAP_SYS_RESOURCE`` (dropped from the bounding set too, so programs the handler
    runs cannot regain them) a handler can neither unmount its private ``/tmp`` nor
    lift its memory limit.  ``False`` when nothing could be dropped (not Linux, or no capabilities).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = _c()
    for cap in caps:
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return False
    for cap in caps:
        index, bit = divmod(cap, 32)
        mask = ~(1 << bit) & 0xFFFFFFFF
        data[index].effective &= mask
        data[index].permitted &= mask
        data[index].inheritable &= mask
    return bool(libc.capset(ctypes.byref(header), data) == 0)


def peak_rss_kb() -> int:
    """``VmHWM`` of this process (peak resident set), falling back to ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
