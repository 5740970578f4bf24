/* thredo._speedups: thredo's optional C accelerator.
 *
 * Two parts, each with a complete pure-Python twin that stays the reference
 * (same tests on both; a machine without a compiler gets the pure path):
 *
 * 1. recv and send that keep the GIL.  A thredo socket's recv has already
 *    waited in poll() for the socket to be readable, so the recv itself
 *    cannot block; the stdlib's calls release the GIL around it all the same,
 *    which with two or more CPUs costs a GIL hand-off per call.  Both always
 *    pass MSG_DONTWAIT, so they never block while holding the GIL, and return
 *    None when the call would block (EAGAIN, EWOULDBLOCK) or was interrupted
 *    (EINTR): the caller then takes the ordinary path, which waits and
 *    retries.  Other errors raise OSError as the stdlib's calls do.
 *    thredo.net.socket uses them only when the process may run on more than
 *    one CPU; THREDO_KEEP_GIL=0 never does.
 *
 * 2. LockBase and RLockBase, the fast paths of thredo.Lock and thredo.RLock
 *    (thredo/_sync.py).  LockBase: acquire,
 *    release, with and locked in C, the rest (the wait, the wake-up, the
 *    argument checks of a timed acquire) in Python methods of the subclass
 *    (_wait, _wake, _acquire_timed).  The lock itself is RawLock, one atomic
 *    int taken by compare-and-swap: a real lock, correct without the GIL.
 *    RLockBase does the same on top of a LockBase (its _block).
 *    THREDO_PURE=1 makes both the pure-Python classes.
 *
 * 3. close_fd, close(2) keeping the GIL, for thredo's eventfds (a close that
 *    never blocks): their exits on a server's cancel (docs/design.md,
 *    section 11).  Its twin is os.close.
 *
 * Free-threaded CPython (docs/design.md, section 10): no state here is safe
 * only because of the GIL.  The lock states are atomics; the module's
 * globals are written once, either by the module's exec (serialised by the
 * import system's lock) or by sync_setup (claimed by compare-and-swap,
 * published with a release store, read after an acquire load), and only read
 * after; recv/send/close_fd touch no shared state.  So the module declares
 * Py_MOD_GIL_NOT_USED where Py_mod_gil exists (3.13+).  It uses static types
 * and process-wide globals, so it refuses subinterpreters
 * (Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED, 3.12+): thredo there takes
 * the pure path.  On a free-threaded build thredo.net.socket does not use
 * recv/send (no GIL hand-off to save: _accel.gil_disabled()).
 *
 * Measurements behind all three: docs/design.md (sections 9, 10 and 11).
 * Built by hatch_build.py when a C compiler and Python's headers exist.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdatomic.h>
#include "structmember.h"
#include <sys/socket.h>
#include <unistd.h>

static int
as_int(PyObject *o, int *out)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value out of range of a C int");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static PyObject *
would_block_or_raise(void)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        Py_RETURN_NONE;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* recv(fd, bufsize, flags) -> bytes | None */
static PyObject *
sp_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, flags;
    Py_ssize_t n;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "recv(fd, bufsize, flags) takes 3 arguments");
        return NULL;
    }
    if (as_int(args[0], &fd) < 0 || as_int(args[2], &flags) < 0)
        return NULL;
    n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
        return NULL;
    }
    PyObject *buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL)
        return NULL;
    ssize_t r = recv(fd, PyBytes_AS_STRING(buf), (size_t)n, flags | MSG_DONTWAIT);
    if (r < 0) {
        Py_DECREF(buf);
        return would_block_or_raise();
    }
    if (r != n && _PyBytes_Resize(&buf, r) < 0)
        return NULL;
    return buf;
}

/* send(fd, data, flags) -> int | None */
static PyObject *
sp_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, flags;
    Py_buffer view;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "send(fd, data, flags) takes 3 arguments");
        return NULL;
    }
    if (as_int(args[0], &fd) < 0 || as_int(args[2], &flags) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    ssize_t r = send(fd, view.buf, (size_t)view.len, flags | MSG_DONTWAIT);
    int saved = errno;
    PyBuffer_Release(&view);
    if (r < 0) {
        errno = saved;
        return would_block_or_raise();
    }
    return PyLong_FromSsize_t(r);
}

/* close_fd(fd): close(2) with the GIL kept.  Only for a descriptor whose
 * close cannot block (an eventfd: no data to flush, no lingering); os.close
 * releases the GIL around it, which when 1,000 threads exit together costs a
 * GIL hand-off per close.  EINTR is success (Linux has freed the descriptor
 * by then: retrying could close another thread's new one); other errors
 * raise OSError as os.close does. */
static PyObject *
sp_close_fd(PyObject *self, PyObject *arg)
{
    int fd;
    if (as_int(arg, &fd) < 0)
        return NULL;
    if (close(fd) < 0 && errno != EINTR)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* -- RawLock: the lock itself ------------------------------------------------
 *
 * One atomic int, 1 while held.  acquire(False) is a compare-and-swap, so two
 * threads can never both take it, GIL or no GIL.  It never blocks: waiting is
 * the business of the Python side (a WaitQueue retrying acquire(False)), so a
 * blocking acquire is refused rather than spun.  Seen from Python it is the
 * ``_lock`` of a thredo.Lock, with _thread.lock's non-blocking surface.
 */
typedef struct {
    PyObject_HEAD
    atomic_int held;
} RawLock;

static int
raw_try(RawLock *r)
{
    int expected = 0;
    return atomic_compare_exchange_strong(&r->held, &expected, 1);
}

/* 0, or -1 with RuntimeError set when it was not held. */
static int
raw_release_or_raise(RawLock *r)
{
    /* The exchange tells whether it was held: an unheld lock stays unheld. */
    if (!atomic_exchange(&r->held, 0)) {
        PyErr_SetString(PyExc_RuntimeError, "release unlocked lock");
        return -1;
    }
    return 0;
}

static PyObject *
raw_acquire(RawLock *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "acquire(blocking) takes 1 argument (False)");
        return NULL;
    }
    int b = PyObject_IsTrue(args[0]);
    if (b < 0)
        return NULL;
    if (b) {
        PyErr_SetString(PyExc_ValueError,
                        "a thredo lock's raw state is only taken with acquire(False)");
        return NULL;
    }
    return PyBool_FromLong(raw_try(self));
}

static PyObject *
raw_release(RawLock *self, PyObject *Py_UNUSED(ignored))
{
    if (raw_release_or_raise(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
raw_locked(RawLock *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(atomic_load(&self->held));
}

static PyMethodDef raw_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))raw_acquire, METH_FASTCALL,
     "acquire($self, blocking, /)\n--\n\nacquire(False): take it if free; whether it was taken."},
    {"release", (PyCFunction)raw_release, METH_NOARGS,
     "release($self, /)\n--\n\nRelease it; RuntimeError if it was not held."},
    {"locked", (PyCFunction)raw_locked, METH_NOARGS,
     "locked($self, /)\n--\n\nWhether it is held."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RawLock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "thredo._speedups.RawLock",
    .tp_basicsize = sizeof(RawLock),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The lock state of a thredo.Lock: one atomic flag (never blocks).",
    .tp_methods = raw_methods,
};

/* -- LockBase: thredo.Lock's fast path ----------------------------------------
 *
 * The same steps as the pure-Python Lock (thredo/_sync.py), in the same
 * order; every step that can wait or is rare calls back into Python:
 *   acquire: if blocking and the attention set is non-empty: checkpoint();
 *            a timeout other than -1: self._acquire_timed(blocking, timeout);
 *            the raw lock if free: True; non-blocking: False;
 *            else self._wait(None).
 *   release: release the raw lock (RuntimeError if unheld); if _waiters is
 *            non-empty: self._wake().
 * The attention set and checkpoint are handed over once by sync_setup().
 */
/* Written once by sync_setup, then only read; setup_state orders them:
 * 0 none, 1 being set (by the thread that won the compare-and-swap),
 * 2 set (a release store after both; read with an acquire load before
 * either is used, which is what makes them safe without a GIL). */
static atomic_int setup_state;
static PyObject *attention;
static PyObject *checkpoint;

static int
setup_done(void)
{
    return atomic_load_explicit(&setup_state, memory_order_acquire) == 2;
}

/* The one-shot publication of sync_setup's and fdwait_setup's globals.
 * 1: this caller moved *state from 0 to 1 and must store them, then
 * release-store 2 (or 0 if it failed); 0: another caller's stores are
 * visible (2); -1: that caller failed (back to 0), try again.  The wait is
 * a few instructions: no Python code runs between the claim and the store. */
static int
setup_claim(atomic_int *state)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(state, &expected, 1))
        return 1;
    int now;
    while ((now = atomic_load_explicit(state, memory_order_acquire)) == 1)
        ;
    return now == 2 ? 0 : -1;
}
static PyObject *str_wait, *str_wake, *str_acquire_timed, *str_blocking, *str_timeout, *minus_one;

typedef struct {
    PyObject_HEAD
    RawLock *raw;       /* never NULL after tp_new, never replaced */
    PyObject *waiters;  /* the subclass's WaitQueue (set by its __init__) */
    PyObject *mutex;
    PyObject *holder;
} LockBase;

static PyObject *
lb_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (!setup_done()) {
        PyErr_SetString(PyExc_RuntimeError, "thredo._speedups.sync_setup() was not called");
        return NULL;
    }
    LockBase *self = (LockBase *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->raw = PyObject_New(RawLock, &RawLock_Type);
    if (self->raw == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    atomic_init(&self->raw->held, 0);
    return (PyObject *)self;
}

static int
lb_traverse(LockBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->waiters);
    Py_VISIT(self->mutex);
    Py_VISIT(self->holder);
    /* Not the type: a static type's traverse must not (the subclass's
     * subtype_traverse visits its heap type itself). */
    return 0;
}

static int
lb_clear(LockBase *self)
{
    Py_CLEAR(self->waiters);
    Py_CLEAR(self->mutex);
    Py_CLEAR(self->holder);
    return 0;
}

static void
lb_dealloc(LockBase *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    lb_clear(self);
    Py_XDECREF(self->raw);
    tp->tp_free((PyObject *)self);
}

/* checkpoint() if the attention set is non-empty (something may be pending). */
static int
checkpoint_if_pending(void)
{
    if (PySet_GET_SIZE(attention) > 0) { /* an atomic read on free-threaded builds */
        PyObject *r = PyObject_CallNoArgs(checkpoint);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* The acquire with blocking already made a truth value (no timeout). */
static PyObject *
lb_do_acquire(LockBase *self, int blocking)
{
    if (blocking && checkpoint_if_pending() < 0)
        return NULL;
    if (raw_try(self->raw))
        Py_RETURN_TRUE;
    if (!blocking)
        Py_RETURN_FALSE;
    return PyObject_CallMethodOneArg((PyObject *)self, str_wait, Py_None);
}

/* acquire's arguments (blocking=True, timeout=-1), by position or keyword;
 * NULL for one not given. */
static int
parse_acquire_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                   PyObject **blocking, PyObject **timeout)
{
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "acquire() takes at most 2 arguments (%zd given)", nargs);
        return -1;
    }
    if (nargs >= 1)
        *blocking = args[0];
    if (nargs == 2)
        *timeout = args[1];
    if (kwnames == NULL)
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot;
        int is_b = PyObject_RichCompareBool(name, str_blocking, Py_EQ);
        if (is_b < 0)
            return -1;
        if (is_b) {
            slot = blocking;
        } else {
            int is_t = PyObject_RichCompareBool(name, str_timeout, Py_EQ);
            if (is_t < 0)
                return -1;
            if (!is_t) {
                PyErr_Format(PyExc_TypeError,
                             "acquire() got an unexpected keyword argument '%U'", name);
                return -1;
            }
            slot = timeout;
        }
        if (*slot != NULL) {
            PyErr_Format(PyExc_TypeError, "acquire() got multiple values for argument '%U'",
                         name);
            return -1;
        }
        *slot = args[nargs + i];
    }
    return 0;
}

static PyObject *
lb_acquire(LockBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *blocking = NULL, *timeout = NULL;
    if (parse_acquire_args(args, nargs, kwnames, &blocking, &timeout) < 0)
        return NULL;
    int b = 1;
    if (blocking != NULL && (b = PyObject_IsTrue(blocking)) < 0)
        return NULL;
    if (timeout != NULL) {
        int timed = PyObject_RichCompareBool(timeout, minus_one, Py_NE);
        if (timed < 0)
            return NULL;
        if (timed) {
            if (b && checkpoint_if_pending() < 0)
                return NULL;
            return PyObject_CallMethodObjArgs((PyObject *)self, str_acquire_timed,
                                              blocking != NULL ? blocking : Py_True, timeout,
                                              NULL);
        }
    }
    return lb_do_acquire(self, b);
}

static PyObject *
lb_enter(LockBase *self, PyObject *Py_UNUSED(ignored))
{
    return lb_do_acquire(self, 1);
}

static PyObject *
lb_release(LockBase *self, PyObject *Py_UNUSED(ignored))
{
    if (raw_release_or_raise(self->raw) < 0)
        return NULL;
    PyObject *waiters = self->waiters;
    if (waiters == NULL)
        Py_RETURN_NONE;
    Py_INCREF(waiters);
    int any = PyObject_IsTrue(waiters);
    Py_DECREF(waiters);
    if (any < 0)
        return NULL;
    if (!any)
        Py_RETURN_NONE;
    return PyObject_CallMethodNoArgs((PyObject *)self, str_wake);
}

/* __exit__(*exc_info) of both lock types: their release, returning None. */
static PyObject *
exit_by(PyObject *(*release)(PyObject *, PyObject *), PyObject *self, Py_ssize_t nargs)
{
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "__exit__() takes at most 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *r = release(self, NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *
lb_exit(LockBase *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exit_by((PyObject * (*)(PyObject *, PyObject *)) lb_release, (PyObject *)self, nargs);
}

static PyObject *
lb_locked(LockBase *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(atomic_load(&self->raw->held));
}

static PyMethodDef lb_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lb_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire($self, /, blocking=True, timeout=-1)\n--\n\n"
     "As ``threading.Lock.acquire``; a cancellation point when ``blocking``.\n\n"
     "In a thredo thread a blocking acquire raises a pending cancel or an\n"
     "expired ``timeout_after`` deadline first, even if the lock is free,\n"
     "and is cancellable while it waits; a cancelled acquire holds nothing.\n\n"
     "Raises:\n"
     "    ValueError: a timeout with ``blocking=False``, negative (other\n"
     "        than -1) or NaN.\n"
     "    OverflowError: ``timeout`` above ``threading.TIMEOUT_MAX``."},
    {"release", (PyCFunction)lb_release, METH_NOARGS,
     "release($self, /)\n--\n\n"
     "As ``threading.Lock.release``: wakes the longest waiter.  Not a cancellation point.\n\n"
     "Raises:\n"
     "    RuntimeError: the lock is not held."},
    {"__enter__", (PyCFunction)lb_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\n``acquire()``: a cancellation point."},
    {"__exit__", (PyCFunction)(void (*)(void))lb_exit, METH_FASTCALL,
     "__exit__($self, ty=None, val=None, tb=None, /)\n--\n\n``release()``."},
    {"locked", (PyCFunction)lb_locked, METH_NOARGS,
     "locked($self, /)\n--\n\nAs ``threading.Lock.locked``."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef lb_members[] = {
    {"_lock", T_OBJECT, offsetof(LockBase, raw), READONLY, "the lock itself (a RawLock)"},
    {"_waiters", T_OBJECT_EX, offsetof(LockBase, waiters), 0, "the WaitQueue of acquire()"},
    {"_mutex", T_OBJECT_EX, offsetof(LockBase, mutex), 0, "guards _waiters, _holder"},
    {"_holder", T_OBJECT, offsetof(LockBase, holder), 0, "the holder's ident, if recorded"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject LockBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "thredo._speedups.LockBase",
    .tp_basicsize = sizeof(LockBase),
    .tp_dealloc = (destructor)lb_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C fast path of thredo.Lock (subclassed there; see thredo/_sync.py).",
    .tp_traverse = (traverseproc)lb_traverse,
    .tp_clear = (inquiry)lb_clear,
    .tp_methods = lb_methods,
    .tp_members = lb_members,
    .tp_new = lb_new,
};

/* -- RLockBase: thredo.RLock's fast path --------------------------------------
 *
 * The pure RLock's steps, in its order: the cancellation check; a timed
 * acquire: self._acquire_timed(blocking, timeout); the owner re-entering:
 * count + 1; else the block (a LockBase) if free, or block._wait(None,
 * "RLock.acquire", self); then owner = me, count = 1.  release: only the
 * owner; at count 0 the owner is cleared and the block released.
 * The owner is an atomic ident (0: none; a thread's ident is its
 * pthread_self(), never 0), read by other threads (locked, statistics) and
 * written by the owner only; count is written by the owner only (relaxed
 * atomics, so that another thread reading _count -- the monitor -- is no data
 * race without a GIL).
 */
static PyObject *str_rlock_acquire;

typedef struct {
    PyObject_HEAD
    PyObject *block;  /* a LockBase (set by the subclass's __init__) */
    atomic_ulong owner;
    _Atomic Py_ssize_t count; /* written by the owner only; atomic for readers of _count */
} RLockBase;

static PyObject *
rl_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (!setup_done()) {
        PyErr_SetString(PyExc_RuntimeError, "thredo._speedups.sync_setup() was not called");
        return NULL;
    }
    RLockBase *self = (RLockBase *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    atomic_init(&self->owner, 0);
    atomic_init(&self->count, 0);
    return (PyObject *)self;
}

static int
rl_traverse(RLockBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->block);  /* (not the type: as lb_traverse) */
    return 0;
}

static int
rl_clear(RLockBase *self)
{
    Py_CLEAR(self->block);
    return 0;
}

static void
rl_dealloc(RLockBase *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    rl_clear(self);
    tp->tp_free((PyObject *)self);
}

static LockBase *
rl_block(RLockBase *self)
{
    PyObject *b = self->block;
    if (b == NULL || !PyObject_TypeCheck(b, &LockBase_Type)) {
        PyErr_SetString(PyExc_TypeError, "RLockBase._block must be a LockBase");
        return NULL;
    }
    return (LockBase *)b;
}

static PyObject *
rl_do_acquire(RLockBase *self, int blocking)
{
    unsigned long me = PyThread_get_thread_ident();
    if (atomic_load(&self->owner) == me) {
        atomic_store_explicit(&self->count, atomic_load_explicit(&self->count, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        Py_RETURN_TRUE;
    }
    LockBase *block = rl_block(self);
    if (block == NULL)
        return NULL;
    if (!raw_try(block->raw)) {
        if (!blocking)
            Py_RETURN_FALSE;
        PyObject *r = PyObject_CallMethodObjArgs((PyObject *)block, str_wait, Py_None,
                                                 str_rlock_acquire, (PyObject *)self, NULL);
        if (r == NULL)
            return NULL;
        int ok = PyObject_IsTrue(r);
        Py_DECREF(r);
        if (ok < 0)
            return NULL;
        if (!ok)
            Py_RETURN_FALSE;
    }
    atomic_store(&self->owner, me);
    atomic_store_explicit(&self->count, 1, memory_order_relaxed);
    Py_RETURN_TRUE;
}

static PyObject *
rl_acquire(RLockBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *blocking = NULL, *timeout = NULL;
    if (parse_acquire_args(args, nargs, kwnames, &blocking, &timeout) < 0)
        return NULL;
    int b = 1;
    if (blocking != NULL && (b = PyObject_IsTrue(blocking)) < 0)
        return NULL;
    if (b && checkpoint_if_pending() < 0)
        return NULL;
    if (timeout != NULL) {
        int timed = PyObject_RichCompareBool(timeout, minus_one, Py_NE);
        if (timed < 0)
            return NULL;
        if (timed)
            return PyObject_CallMethodObjArgs((PyObject *)self, str_acquire_timed,
                                              blocking != NULL ? blocking : Py_True, timeout,
                                              NULL);
    }
    return rl_do_acquire(self, b);
}

static PyObject *
rl_enter(RLockBase *self, PyObject *Py_UNUSED(ignored))
{
    if (checkpoint_if_pending() < 0)
        return NULL;
    return rl_do_acquire(self, 1);
}

static PyObject *
rl_release(RLockBase *self, PyObject *Py_UNUSED(ignored))
{
    if (atomic_load(&self->owner) != PyThread_get_thread_ident()) {
        PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
        return NULL;
    }
    Py_ssize_t left = atomic_load_explicit(&self->count, memory_order_relaxed) - 1;
    atomic_store_explicit(&self->count, left, memory_order_relaxed);
    if (left)
        Py_RETURN_NONE;
    atomic_store(&self->owner, 0);
    LockBase *block = rl_block(self);
    if (block == NULL)
        return NULL;
    return lb_release(block, NULL);
}

static PyObject *
rl_exit(RLockBase *self, PyObject *const *args, Py_ssize_t nargs)
{
    return exit_by((PyObject * (*)(PyObject *, PyObject *)) rl_release, (PyObject *)self, nargs);
}

static PyObject *
rl_locked(RLockBase *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(atomic_load(&self->owner) != 0);
}

static PyObject *
rl_get_owner(RLockBase *self, void *closure)
{
    unsigned long o = atomic_load(&self->owner);
    if (o == 0)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(o);
}

static int
rl_set_owner(RLockBase *self, PyObject *value, void *closure)
{
    unsigned long o = 0;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _owner");
        return -1;
    }
    if (value != Py_None) {
        o = PyLong_AsUnsignedLong(value);
        if (o == (unsigned long)-1 && PyErr_Occurred())
            return -1;
    }
    atomic_store(&self->owner, o);
    return 0;
}

static PyObject *
rl_get_count(RLockBase *self, void *closure)
{
    return PyLong_FromSsize_t(atomic_load_explicit(&self->count, memory_order_relaxed));
}

static int
rl_set_count(RLockBase *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _count");
        return -1;
    }
    Py_ssize_t c = PyLong_AsSsize_t(value);
    if (c == -1 && PyErr_Occurred())
        return -1;
    atomic_store_explicit(&self->count, c, memory_order_relaxed);
    return 0;
}

static PyGetSetDef rl_getset[] = {
    {"_owner", (getter)rl_get_owner, (setter)rl_set_owner, "the owner's ident, or None", NULL},
    {"_count", (getter)rl_get_count, (setter)rl_set_count, "the owner's depth", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef rl_members[] = {
    {"_block", T_OBJECT_EX, offsetof(RLockBase, block), 0, "the Lock held while owned"},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef rl_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))rl_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire($self, /, blocking=True, timeout=-1)\n--\n\n"
     "As ``threading.RLock.acquire``; a cancellation point when ``blocking``.\n\n"
     "Re-acquiring by the owner is a cancellation point too (it is a call\n"
     "that may block; the owner's count is unchanged when it raises).  A\n"
     "cancelled acquire holds nothing.\n\n"
     "Raises:\n"
     "    ValueError, OverflowError: as :meth:`Lock.acquire`."},
    {"release", (PyCFunction)rl_release, METH_NOARGS,
     "release($self, /)\n--\n\n"
     "As ``threading.RLock.release``.  Not a cancellation point.\n\n"
     "Raises:\n"
     "    RuntimeError: the calling thread does not own the lock."},
    {"__enter__", (PyCFunction)rl_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\n``acquire()``: a cancellation point."},
    {"__exit__", (PyCFunction)(void (*)(void))rl_exit, METH_FASTCALL,
     "__exit__($self, ty=None, val=None, tb=None, /)\n--\n\n``release()``."},
    {"locked", (PyCFunction)rl_locked, METH_NOARGS,
     "locked($self, /)\n--\n\nWhether any thread holds it (``threading.RLock`` has it from Python 3.14)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RLockBase_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "thredo._speedups.RLockBase",
    .tp_basicsize = sizeof(RLockBase),
    .tp_dealloc = (destructor)rl_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C fast path of thredo.RLock (subclassed there; see thredo/_sync.py).",
    .tp_traverse = (traverseproc)rl_traverse,
    .tp_clear = (inquiry)rl_clear,
    .tp_methods = rl_methods,
    .tp_members = rl_members,
    .tp_getset = rl_getset,
    .tp_new = rl_new,
};

/* -- wait_recv: a thredo socket's recv that waits, in one C call -------------
 *
 * The hot path of a request/response socket (docs/design.md, section 10):
 * the recv of a socket whose last recv had to wait, so this one waits for
 * readiness first.  The pure-Python twin is thredo.net.socket's recv on
 * that path: the cancellation point (checkpoint), _core._fdwait.wait_fd's
 * loop, then the recv (GIL kept, as _speedups.recv, or released, as the
 * stdlib's).  wait_recv does the same steps, in the same order, on the
 * same state, for the common case only, and returns None -- nothing
 * consumed, the state as it found it -- for every other case, where the
 * caller takes the Python path:
 *
 *   no ThreadState (a plain thread), a cancel pending or a deadline armed
 *   (the checkpoint or the wait would have to raise: Python does it), no
 *   fd wait of its own yet or past the eventfd budget (fdwait not a
 *   _PollWait with an eventfd), a closed socket (fileno() < 0);
 *   after a wake-up by the thread's eventfd that is not also the socket's
 *   readiness (a cancel, a close under the wait, a stale ring: wait_fd's
 *   own loop then sees it, the eventfd still readable unless drained as
 *   wait_fd drains it), and when the socket was closed while it waited.
 *
 * What it does, as wait_fd: st.blocked = ("recv", sock, now, None); the
 * ThreadState appended to fdwait.waiting[fd] (for closers); st.parked =
 * fdwait, then cancel_pending tested again; poll() on the socket and the
 * eventfd with the GIL released, no timeout (no deadline, no socket
 * timeout: the caller checked); st.parked = None; the eventfd drained if
 * it rang with no cancel pending (or cancellation disabled); then the recv
 * with MSG_DONTWAIT, and on EAGAIN (a spurious readiness) the wait again;
 * at the end st.blocked and st.closed_under cleared and the waiting entry
 * removed; note_return() when the attention set is non-empty.  EINTR runs
 * the signal handlers (PyErr_CheckSignals) and goes on, as the stdlib's
 * PEP 475 retry does.  Errors of recv raise OSError as the stdlib's.
 *
 * The GIL: every touch of Python state (the ThreadState's slots, the
 * waiting dict and list) happens with the GIL held, through the ordinary
 * attribute and container calls, so it is exactly as safe as the Python
 * code it twins -- and no safer: the cancel protocol (deliver() stores
 * cancel_pending then reads parked; the waiter stores parked then reads
 * cancel_pending) is the Python one.  The module uses single-phase init
 * without Py_mod_gil, so a free-threaded CPython re-enables the GIL when
 * it imports it; this part relies on that, and would need the attribute
 * reads as atomic loads and PyDict_GetItemRef before declaring
 * Py_MOD_GIL_NOT_USED.  Outside the GIL it touches only the pollfd array,
 * the eventfd (read) and the bytes object it made and nobody else sees.
 */
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030C0000
#define CW_SAVE_ERROR(e) PyObject *e = PyErr_GetRaisedException()
#define CW_HAS_ERROR(e) ((e) != NULL)
#define CW_RESTORE_ERROR(e) PyErr_SetRaisedException(e)
#else
typedef struct { PyObject *t, *v, *tb; } cw_error;
#define CW_SAVE_ERROR(e) cw_error e; PyErr_Fetch(&e.t, &e.v, &e.tb)
#define CW_HAS_ERROR(e) ((e).t != NULL)
#define CW_RESTORE_ERROR(e) PyErr_Restore(e.t, e.v, e.tb)
#endif

/* cw_local, cw_attention, cw_note_return and the interned names: written
 * once by fdwait_setup, published as sync_setup's are (cw_setup_state: 0
 * none, 1 being set by the compare-and-swap's winner, 2 set; a release store
 * after all of them, an acquire load before any is used), so that no GIL is
 * needed to read them. */
static atomic_int cw_setup_state;
static PyObject *cw_local;        /* _core._wait.state_local (set once by fdwait_setup) */
static PyObject *cw_attention;    /* _core._wait.attention */
static PyObject *cw_note_return;  /* _core._wait.note_return */
static PyObject *cw_s_state, *cw_s_fdwait, *cw_s_cancel_pending, *cw_s_deadline, *cw_s_nocancel,
    *cw_s_blocked, *cw_s_parked, *cw_s_closed_under, *cw_s_efd, *cw_s_waiting, *cw_s_fileno,
    *cw_s_recv;

/* fdwait_setup(state_local, attention, note_return): once (the same again is a no-op). */
static PyObject *
sp_fdwait_setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PySet_Check(args[1]) || !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "fdwait_setup(state_local, attention: set, note_return: callable)");
        return NULL;
    }
    int claim = setup_claim(&cw_setup_state);
    if (claim < 0)
        return sp_fdwait_setup(self, args, nargs); /* the winner failed: try again */
    if (claim == 0) {
        if (cw_local == args[0] && cw_attention == args[1] && cw_note_return == args[2])
            Py_RETURN_NONE;
        PyErr_SetString(PyExc_RuntimeError, "fdwait_setup() was already called");
        return NULL;
    }
    if (cw_s_recv == NULL) { /* the last one made: all of them, or a failed try to redo */
#define CW_INTERN(var, s) \
    if ((var = PyUnicode_InternFromString(s)) == NULL) { \
        atomic_store_explicit(&cw_setup_state, 0, memory_order_release); \
        return NULL; \
    }
        CW_INTERN(cw_s_state, "state");
        CW_INTERN(cw_s_fdwait, "fdwait");
        CW_INTERN(cw_s_cancel_pending, "cancel_pending");
        CW_INTERN(cw_s_deadline, "deadline");
        CW_INTERN(cw_s_nocancel, "nocancel");
        CW_INTERN(cw_s_blocked, "blocked");
        CW_INTERN(cw_s_parked, "parked");
        CW_INTERN(cw_s_closed_under, "closed_under");
        CW_INTERN(cw_s_efd, "efd");
        CW_INTERN(cw_s_waiting, "waiting");
        CW_INTERN(cw_s_fileno, "fileno");
        CW_INTERN(cw_s_recv, "recv");
#undef CW_INTERN
    }
    Py_INCREF(args[0]);
    Py_INCREF(args[1]);
    Py_INCREF(args[2]);
    cw_local = args[0];
    cw_attention = args[1];
    cw_note_return = args[2];
    atomic_store_explicit(&cw_setup_state, 2, memory_order_release);
    Py_RETURN_NONE;
}

/* 1 if obj.name is None, 0 if not, -1 on error. */
static int
cw_is_none(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    int r = v == Py_None;
    Py_DECREF(v);
    return r;
}

/* An int attribute as a C int (-1 with an error, or *out untouched for None: returns 1). */
static int
cw_int_attr(PyObject *obj, PyObject *name, int *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        return 1;
    }
    int r = as_int(v, out);
    Py_DECREF(v);
    return r;
}

/* The end of a wait: st.blocked = None, st.closed_under = None, st out of waiters.
 * Keeps a pending exception (the cleanup of a failing call). */
static int
cw_unregister(PyObject *st, PyObject *waiters)
{
    CW_SAVE_ERROR(saved);
    int r = 0;
    if (PyObject_SetAttr(st, cw_s_blocked, Py_None) < 0 ||
        PyObject_SetAttr(st, cw_s_closed_under, Py_None) < 0)
        r = -1;
    /* list.remove(st): a ThreadState compares by identity; it was appended once. */
    Py_ssize_t n = PyList_GET_SIZE(waiters);
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        if (PyList_GET_ITEM(waiters, i) == st) {
            if (PyList_SetSlice(waiters, i, i + 1, NULL) < 0)
                r = -1;
            break;
        }
    }
    if (CW_HAS_ERROR(saved)) {
        if (r < 0)
            PyErr_Clear();
        CW_RESTORE_ERROR(saved);
        return -1;
    }
    return r;
}

/* wait_recv(sock, bufsize, keepgil) -> bytes | None (None: take the Python path) */
static PyObject *
sp_wait_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "wait_recv(sock, bufsize, keepgil) takes 3 arguments");
        return NULL;
    }
    if (atomic_load_explicit(&cw_setup_state, memory_order_acquire) != 2) {
        PyErr_SetString(PyExc_RuntimeError, "thredo._speedups.fdwait_setup() was not called");
        return NULL;
    }
    PyObject *sock = args[0];
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n <= 0)
        Py_RETURN_NONE;  /* recv(0) and errors: the Python path's business */
    int keepgil = PyObject_IsTrue(args[2]);
    if (keepgil < 0)
        return NULL;

    PyObject *st = NULL, *fdw = NULL, *waiting = NULL, *waiters = NULL, *buf = NULL,
             *result = NULL;
    int fd = -1, efd = -1, registered = 0, r;

    /* The checks, each a fallback: nothing is changed before they pass. */
    st = PyObject_GetAttr(cw_local, cw_s_state);
    if (st == NULL || st == Py_None)
        goto fallback;
    if ((r = cw_is_none(st, cw_s_cancel_pending)) != 1 || (r = cw_is_none(st, cw_s_deadline)) != 1)
        goto fallback_or_error;
    fdw = PyObject_GetAttr(st, cw_s_fdwait);
    if (fdw == NULL)
        goto error;
    if (fdw == Py_None || fdw == Py_False)
        goto fallback;
    if ((r = cw_int_attr(fdw, cw_s_efd, &efd)) != 0)
        goto fallback_or_error;  /* None: the eventfd was given back (an exiting thread) */
    {
        PyObject *f = PyObject_CallMethodNoArgs(sock, cw_s_fileno);
        if (f == NULL)
            goto error;
        r = as_int(f, &fd);
        Py_DECREF(f);
        if (r < 0)
            goto error;
    }
    if (fd < 0)
        goto fallback;
    waiting = PyObject_GetAttr(fdw, cw_s_waiting);
    if (waiting == NULL)
        goto error;
    if (!PyDict_CheckExact(waiting))
        goto fallback;
    buf = PyBytes_FromStringAndSize(NULL, n);
    if (buf == NULL)
        goto error;

    /* Blocked, for people, and registered for closers (as wait_fd). */
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);  /* time.monotonic()'s clock on Linux */
        PyObject *since = PyFloat_FromDouble((double)ts.tv_sec + ts.tv_nsec * 1e-9);
        if (since == NULL)
            goto error;
        PyObject *blocked = PyTuple_Pack(4, cw_s_recv, sock, since, Py_None);
        Py_DECREF(since);
        if (blocked == NULL)
            goto error;
        r = PyObject_SetAttr(st, cw_s_blocked, blocked);
        Py_DECREF(blocked);
        if (r < 0)
            goto error;
    }
    {
        PyObject *key = PyLong_FromLong(fd);
        if (key == NULL)
            goto error_registered_blocked;
        /* waiting.get(fd) or waiting.setdefault(fd, []): an empty list is reused */
        waiters = PyDict_GetItemWithError(waiting, key);
        if (waiters == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            goto error_registered_blocked;
        }
        if (waiters == NULL || !PyList_CheckExact(waiters)) {
            PyObject *fresh = PyList_New(0);
            if (fresh == NULL) {
                Py_DECREF(key);
                goto error_registered_blocked;
            }
            waiters = PyDict_SetDefault(waiting, key, fresh);
            Py_DECREF(fresh);
        }
        Py_DECREF(key);
        if (waiters == NULL)
            goto error_registered_blocked;
        Py_INCREF(waiters);  /* borrowed from the dict: ours now (a closer may pop it) */
        if (!PyList_CheckExact(waiters) || PyList_Append(waiters, st) < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "fdwait.waiting holds a non-list");
            goto error_registered_blocked;
        }
        registered = 1;
    }

    for (;;) {
        struct pollfd pfd[2];
        int rc, err;
        if (PyObject_SetAttr(st, cw_s_parked, fdw) < 0)
            goto error;
        if ((r = cw_is_none(st, cw_s_cancel_pending)) != 1) {
            if (PyObject_SetAttr(st, cw_s_parked, Py_None) < 0)
                goto error;
            goto fallback_or_error;  /* delivered since the check: Python raises it */
        }
        pfd[0].fd = fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = efd;
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        Py_BEGIN_ALLOW_THREADS
        rc = poll(pfd, 2, -1);
        err = errno;
        Py_END_ALLOW_THREADS
        if (PyObject_SetAttr(st, cw_s_parked, Py_None) < 0)
            goto error;
        if (rc < 0) {
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto error;
                continue;
            }
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            goto error;
        }
        if (pfd[1].revents) {
            /* The eventfd rang: drained as wait_fd drains it (a pending cancel's
             * ring stays for the Python path's wait, which raises it). */
            int nocancel = 0;
            if ((r = cw_is_none(st, cw_s_cancel_pending)) < 0 ||
                cw_int_attr(st, cw_s_nocancel, &nocancel) < 0)
                goto error;
            if (r == 1 || nocancel) {
                uint64_t v;
                ssize_t ignored = read(efd, &v, sizeof v);  /* EAGAIN: drained already */
                (void)ignored;
            }
            if (!pfd[0].revents)
                goto fallback;  /* not the socket: a cancel, a close, a stale ring */
        }
        if (!pfd[0].revents)
            continue;
        /* Readable (or an error, a hang-up: recv reports it).  Closed while we
         * waited (the GIL was free): the Python path raises EBADF. */
        if ((r = cw_is_none(st, cw_s_closed_under)) != 1)
            goto fallback_or_error;
        {
            ssize_t got;
            if (keepgil) {
                got = recv(fd, PyBytes_AS_STRING(buf), (size_t)n, MSG_DONTWAIT);
                err = errno;
            } else {
                Py_BEGIN_ALLOW_THREADS
                got = recv(fd, PyBytes_AS_STRING(buf), (size_t)n, MSG_DONTWAIT);
                err = errno;
                Py_END_ALLOW_THREADS
            }
            if (got >= 0) {
                if (got != n && _PyBytes_Resize(&buf, got) < 0)
                    goto error;  /* buf is NULL now */
                result = buf;
                buf = NULL;
                break;
            }
            if (err == EAGAIN || err == EWOULDBLOCK)
                continue;  /* readiness without data (another reader took it): wait again */
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto error;
                continue;
            }
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            goto error;
        }
    }
    if (cw_unregister(st, waiters) < 0) {
        Py_CLEAR(result);
        goto error_done;
    }
    if (PySet_GET_SIZE(cw_attention) > 0) {
        PyObject *nr = PyObject_CallNoArgs(cw_note_return);
        if (nr == NULL) {
            Py_CLEAR(result);
            goto error_done;
        }
        Py_DECREF(nr);
    }
    goto done;

fallback_or_error:
    if (r < 0)
        goto error;
fallback:
    if (st == NULL)
        goto error;
    if (registered && cw_unregister(st, waiters) < 0)
        goto error_done;
    result = Py_None;
    Py_INCREF(result);
    goto done;

error_registered_blocked:
    /* blocked was set, the registration failed: undo blocked only */
    {
        CW_SAVE_ERROR(saved);
        if (PyObject_SetAttr(st, cw_s_blocked, Py_None) < 0)
            PyErr_Clear();
        CW_RESTORE_ERROR(saved);
    }
    goto error_done;
error:
    if (registered)
        cw_unregister(st, waiters);  /* keeps the error */
error_done:
    result = NULL;
done:
    Py_XDECREF(st);
    Py_XDECREF(fdw);
    Py_XDECREF(waiting);
    Py_XDECREF(waiters);
    Py_XDECREF(buf);
    return result;
}

/* sync_setup(attention, checkpoint): hand over the core's attention set and
 * checkpoint function, once (the same pair again is a no-op). */
static PyObject *
sp_sync_setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sync_setup(attention, checkpoint) takes 2 arguments");
        return NULL;
    }
    if (!PySet_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sync_setup(attention: set, checkpoint: callable)");
        return NULL;
    }
    int claim = setup_claim(&setup_state);
    if (claim < 0)
        return sp_sync_setup(self, args, nargs); /* (never: the stores below cannot fail) */
    if (claim == 0) {
        if (attention == args[0] && checkpoint == args[1])
            Py_RETURN_NONE;
        PyErr_SetString(PyExc_RuntimeError, "sync_setup() was already called");
        return NULL;
    }
    Py_INCREF(args[1]);
    checkpoint = args[1];
    Py_INCREF(args[0]);
    attention = args[0];
    atomic_store_explicit(&setup_state, 2, memory_order_release);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"recv", (PyCFunction)(void (*)(void))sp_recv, METH_FASTCALL,
     "recv(fd, bufsize, flags): recv with MSG_DONTWAIT, keeping the GIL; None if it would block."},
    {"send", (PyCFunction)(void (*)(void))sp_send, METH_FASTCALL,
     "send(fd, data, flags): send with MSG_DONTWAIT, keeping the GIL; None if it would block."},
    {"close_fd", (PyCFunction)sp_close_fd, METH_O,
     "close_fd(fd): close(2) keeping the GIL, for a descriptor whose close never blocks (an eventfd)."},
    {"sync_setup", (PyCFunction)(void (*)(void))sp_sync_setup, METH_FASTCALL,
     "sync_setup(attention, checkpoint): the core's attention set and checkpoint, once."},
    {"fdwait_setup", (PyCFunction)(void (*)(void))sp_fdwait_setup, METH_FASTCALL,
     "fdwait_setup(state_local, attention, note_return): the core's wait state, once."},
    {"wait_recv", (PyCFunction)(void (*)(void))sp_wait_recv, METH_FASTCALL,
     "wait_recv(sock, bufsize, keepgil): wait for sock readable and recv, as the Python path;"
     " None: take the Python path."},
    {NULL, NULL, 0, NULL},
};

/* The module's exec (multi-phase init, PEP 489): readies the static types,
 * makes the interned strings (once per process: the import system's lock
 * serialises it) and adds the types. */
static int
exec_module(PyObject *m)
{
    if (PyType_Ready(&RawLock_Type) < 0 || PyType_Ready(&LockBase_Type) < 0 ||
        PyType_Ready(&RLockBase_Type) < 0)
        return -1;
    if (str_wait == NULL) {
        str_wait = PyUnicode_InternFromString("_wait");
        str_wake = PyUnicode_InternFromString("_wake");
        str_acquire_timed = PyUnicode_InternFromString("_acquire_timed");
        str_blocking = PyUnicode_InternFromString("blocking");
        str_timeout = PyUnicode_InternFromString("timeout");
        str_rlock_acquire = PyUnicode_InternFromString("RLock.acquire");
        minus_one = PyLong_FromLong(-1);
        if (!str_rlock_acquire || !str_wait || !str_wake || !str_acquire_timed || !str_blocking ||
            !str_timeout || !minus_one)
            return -1;
    }
    if (PyModule_AddObjectRef(m, "RawLock", (PyObject *)&RawLock_Type) < 0 ||
        PyModule_AddObjectRef(m, "LockBase", (PyObject *)&LockBase_Type) < 0 ||
        PyModule_AddObjectRef(m, "RLockBase", (PyObject *)&RLockBase_Type) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
#ifdef Py_mod_multiple_interpreters
    /* static types and process-wide globals: one interpreter only */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* no state safe only under the GIL (the header comment says why) */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "thredo._speedups",
    .m_doc = "thredo's optional C accelerator: GIL-keeping recv/send/close, the fast path of Lock.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module);
}
