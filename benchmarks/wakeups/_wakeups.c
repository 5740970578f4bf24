/* benchmarks/wakeups/_wakeups.c: throwaway prototypes of four ways for a
 * thread blocked in recv to be woken by a canceller (issue 24; results in
 * docs/design.md, section 12).  Not part of thredo: built by
 * benchmarks/wakeups/__main__.py with the system compiler.
 *
 * Conn(fd, design) is made in the thread that serves the connection (it
 * records that thread for the signal designs).  Its recv(n) releases the GIL
 * around the whole wait, as CPython's socket module does, and returns bytes
 * (b"" at EOF) or raises Cancelled; sendall(data) is a plain blocking send
 * loop (the same in every design).  cancel() may be called from any thread.
 *
 *   PLAIN_C  recv(fd, 0): blocking, no cancellation (cancel by shutdown).
 *   EVENTFD  today's thredo: poll(socket + the thread's eventfd), then
 *            recv(MSG_DONTWAIT); cancel = flag + write the eventfd.
 *   PPOLL    ppoll(socket) with a reserved real-time signal blocked except
 *            inside ppoll (the kernel swaps the mask atomically), then
 *            recv(MSG_DONTWAIT); cancel = flag + pthread_kill.
 *   EINTR    blocking recvfrom itself, cancelled by pthread_kill.  The race
 *            between testing the flag and entering the system call is closed
 *            as musl's pthread_cancel closes it (src/thread/pthread_cancel.c,
 *            syscall_cp.s): the flag test and the syscall instruction are one
 *            assembly stub, wk_cp_recv, and the signal handler (SA_RESTART)
 *            looks at the interrupted PC:
 *              - in [wk_cp_begin, wk_cp_end) with the flag set (the flag's
 *                address is in r12 there): the thread has not entered the
 *                call, or was blocked in it with nothing received (an
 *                interrupted recv that copied nothing returns ERESTARTSYS,
 *                and SA_RESTART makes the kernel rewind the PC onto the
 *                syscall instruction before the handler runs): the handler
 *                moves the PC to wk_cp_cancel, which returns -ECANCELED;
 *              - anywhere else (before the stub, after the syscall returned,
 *                in Python, in send): the handler returns; the call's result
 *                stands (no byte lost) and the flag, stored before the
 *                signal was sent, is seen by the next wk_cp_recv's test.
 *            So no cancel is missed and no received byte is dropped.
 *            x86-64 Linux only (REG_RIP, REG_R12, syscall number 45).
 */
#define _GNU_SOURCE 1  /* as pyconfig.h defines it */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

enum { PLAIN_C = 0, EVENTFD = 1, PPOLL = 2, EINTR_CP = 3 };

#if defined(__x86_64__) && defined(__linux__)
#define HAVE_CP 1
__asm__(
    ".text\n"
    ".globl wk_cp_recv\n.hidden wk_cp_recv\n.type wk_cp_recv,@function\n"
    "wk_cp_recv:\n"                  /* (flag *rdi, fd rsi, buf rdx, len rcx) */
    "  push %r12\n"
    "  mov %rdi, %r12\n"             /* the handler reads the flag through r12 */
    "  mov %rsi, %rdi\n"
    "  mov %rdx, %rsi\n"
    "  mov %rcx, %rdx\n"
    "  xor %r10d, %r10d\n"           /* flags 0: blocking */
    "  xor %r8d, %r8d\n"
    "  xor %r9d, %r9d\n"
    "  mov $45, %eax\n"              /* SYS_recvfrom */
    ".globl wk_cp_begin\n.hidden wk_cp_begin\n"
    "wk_cp_begin:\n"
    "  mov (%r12), %ecx\n"
    "  test %ecx, %ecx\n"
    "  jnz wk_cp_cancel\n"
    "  syscall\n"
    ".globl wk_cp_end\n.hidden wk_cp_end\n"
    "wk_cp_end:\n"
    "  pop %r12\n"
    "  ret\n"
    ".globl wk_cp_cancel\n.hidden wk_cp_cancel\n"
    "wk_cp_cancel:\n"
    "  mov $-125, %rax\n"            /* -ECANCELED */
    "  pop %r12\n"
    "  ret\n"
    ".size wk_cp_recv, .-wk_cp_recv\n");
extern long wk_cp_recv(volatile int *flag, long fd, void *buf, long len);
extern const char wk_cp_begin[], wk_cp_end[], wk_cp_cancel[];

static void
cp_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    if (pc >= (uintptr_t)wk_cp_begin && pc < (uintptr_t)wk_cp_end) {
        volatile int *flag = (volatile int *)uc->uc_mcontext.gregs[REG_R12];
        if (__atomic_load_n(flag, __ATOMIC_SEQ_CST))
            uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)wk_cp_cancel;
    }
}
#endif

static void
noop_handler(int sig)
{
    (void)sig;
}

static int wake_signal;      /* SIGRTMIN + 4 once installed */
static sigset_t ppoll_mask;  /* the mask inside ppoll: wake_signal unblocked */
static PyObject *Cancelled;

typedef struct {
    PyObject_HEAD
    int fd, design, efd;
    int flag;        /* the cancel flag, atomic */
    int exited;      /* under mu: no signal may be sent after close() */
    pthread_t tid;
    pthread_mutex_t mu;
} Conn;

static int
Conn_init(Conn *self, PyObject *args, PyObject *kw)
{
    (void)kw;
    if (!PyArg_ParseTuple(args, "ii", &self->fd, &self->design))
        return -1;
    if (self->design < PLAIN_C || self->design > EINTR_CP) {
        PyErr_SetString(PyExc_ValueError, "unknown design");
        return -1;
    }
#ifndef HAVE_CP
    if (self->design == EINTR_CP) {
        PyErr_SetString(PyExc_NotImplementedError, "EINTR design: x86-64 Linux only");
        return -1;
    }
#endif
    if ((self->design == PPOLL || self->design == EINTR_CP) && !wake_signal) {
        PyErr_SetString(PyExc_RuntimeError, "install() first");
        return -1;
    }
    self->efd = -1;
    self->flag = 0;
    self->exited = 0;
    self->tid = pthread_self();
    pthread_mutex_init(&self->mu, NULL);
    if (self->design == EVENTFD) {
        self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (self->efd < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

static void
close_locked(Conn *self)
{
    self->exited = 1;
    if (self->efd >= 0) {
        close(self->efd);
        self->efd = -1;
    }
}

static void
Conn_dealloc(Conn *self)
{
    pthread_mutex_lock(&self->mu);
    close_locked(self);
    pthread_mutex_unlock(&self->mu);
    pthread_mutex_destroy(&self->mu);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* One wait and recv, without the GIL.  Returns bytes received, 0 at EOF,
 * -1 with *err set, or -2 when cancelled. */
static ssize_t
do_recv(Conn *self, char *buf, size_t n, int *err)
{
    ssize_t r;
    struct pollfd p[2];
    for (;;) {
        switch (self->design) {
        case PLAIN_C:
            r = recv(self->fd, buf, n, 0);
            if (r >= 0)
                return r;
            if (errno == EINTR)
                continue;
            *err = errno;
            return -1;
        case EVENTFD:
        case PPOLL:
            if (__atomic_load_n(&self->flag, __ATOMIC_SEQ_CST))
                return -2;
            p[0].fd = self->fd;
            p[0].events = POLLIN;
            p[0].revents = 0;
            if (self->design == EVENTFD) {
                p[1].fd = self->efd;
                p[1].events = POLLIN;
                p[1].revents = 0;
                r = poll(p, 2, -1);
            } else {
                r = ppoll(p, 1, NULL, &ppoll_mask);
            }
            if (r < 0) {
                if (errno == EINTR)
                    continue;  /* the signal: the flag test says */
                *err = errno;
                return -1;
            }
            if (self->design == EVENTFD && p[1].revents)
                return -2;
            r = recv(self->fd, buf, n, MSG_DONTWAIT);
            if (r >= 0)
                return r;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            *err = errno;
            return -1;
#ifdef HAVE_CP
        case EINTR_CP:
            r = wk_cp_recv(&self->flag, self->fd, buf, (long)n);
            if (r >= 0)
                return r;
            if (r == -ECANCELED)
                return -2;
            if (r == -EINTR)
                continue;  /* e.g. a receive timeout: wk_cp_recv tests the flag */
            *err = (int)-r;
            return -1;
#endif
        default:
            *err = EINVAL;
            return -1;
        }
    }
}

static PyObject *
Conn_recv(Conn *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    ssize_t r;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    r = do_recv(self, PyBytes_AS_STRING(out), (size_t)n, &err);
    Py_END_ALLOW_THREADS
    if (r == -2) {
        Py_DECREF(out);
        PyErr_SetNone(Cancelled);
        return NULL;
    }
    if (r < 0) {
        Py_DECREF(out);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (r != n && _PyBytes_Resize(&out, r) < 0)
        return NULL;
    return out;
}

static PyObject *
Conn_sendall(Conn *self, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    const char *p = b.buf;
    size_t left = (size_t)b.len;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    while (left > 0) {
        ssize_t r = send(self->fd, p, left, MSG_NOSIGNAL);
        if (r >= 0) {
            p += r;
            left -= (size_t)r;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd q = {self->fd, POLLOUT, 0};
            poll(&q, 1, -1);
        } else {
            err = errno;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    if (err) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
Conn_cancel(Conn *self, PyObject *unused)
{
    (void)unused;
    static const uint64_t one = 1;
    Py_BEGIN_ALLOW_THREADS  /* as thredo's eventfd_write: section 11 */
    pthread_mutex_lock(&self->mu);
    if (!self->exited && !__atomic_load_n(&self->flag, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&self->flag, 1, __ATOMIC_SEQ_CST);
        if (self->design == EVENTFD) {
            if (write(self->efd, &one, sizeof one) < 0) {
                /* full: already rung */
            }
        } else if (self->design == PPOLL || self->design == EINTR_CP) {
            pthread_kill(self->tid, wake_signal);
        }
    }
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* kick(): the signal (or the eventfd) without the flag, a spurious wake-up:
 * the check part sends these to show that they lose no byte. */
static PyObject *
Conn_kick(Conn *self, PyObject *unused)
{
    (void)unused;
    pthread_mutex_lock(&self->mu);
    if (!self->exited && (self->design == PPOLL || self->design == EINTR_CP))
        pthread_kill(self->tid, wake_signal);
    pthread_mutex_unlock(&self->mu);
    Py_RETURN_NONE;
}

static PyObject *
Conn_close(Conn *self, PyObject *unused)
{
    (void)unused;
    pthread_mutex_lock(&self->mu);
    close_locked(self);
    pthread_mutex_unlock(&self->mu);
    Py_RETURN_NONE;
}

static PyMethodDef Conn_methods[] = {
    {"recv", (PyCFunction)Conn_recv, METH_O, "recv(n) -> bytes; raises Cancelled"},
    {"sendall", (PyCFunction)Conn_sendall, METH_O, "sendall(data)"},
    {"cancel", (PyCFunction)Conn_cancel, METH_NOARGS, "cancel(): from any thread"},
    {"kick", (PyCFunction)Conn_kick, METH_NOARGS, "kick(): a signal, no flag"},
    {"close", (PyCFunction)Conn_close, METH_NOARGS, "close(): in the serving thread"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ConnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_wakeups.Conn",
    .tp_basicsize = sizeof(Conn),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Conn_init,
    .tp_dealloc = (destructor)Conn_dealloc,
    .tp_methods = Conn_methods,
};

/* install(design): for the signal designs, reserve SIGRTMIN+4 in this
 * process.  Call it in the main thread before any serving thread starts:
 * those inherit the mask set here (PPOLL: the signal blocked). */
static PyObject *
wk_install(PyObject *mod, PyObject *arg)
{
    (void)mod;
    long design = PyLong_AsLong(arg);
    if (design == -1 && PyErr_Occurred())
        return NULL;
    if (design != PPOLL && design != EINTR_CP)
        Py_RETURN_NONE;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    int sig = SIGRTMIN + 4;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    if (design == PPOLL) {
        sa.sa_handler = noop_handler;  /* ppoll returns EINTR whatever the flags */
        sigset_t old;
        if (pthread_sigmask(SIG_BLOCK, &s, &old) != 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        ppoll_mask = old;
        sigdelset(&ppoll_mask, sig);
    } else {
#ifdef HAVE_CP
        sa.sa_sigaction = cp_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;  /* SA_RESTART: see the header */
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
#else
        PyErr_SetString(PyExc_NotImplementedError, "EINTR design: x86-64 Linux only");
        return NULL;
#endif
    }
    if (sigaction(sig, &sa, NULL) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    wake_signal = sig;
    return PyLong_FromLong(sig);
}

static PyMethodDef module_methods[] = {
    {"install", wk_install, METH_O, "install(design) -> the reserved signal or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wakeups", NULL, -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__wakeups(void)
{
    if (PyType_Ready(&ConnType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Cancelled = PyErr_NewException("_wakeups.Cancelled", PyExc_Exception, NULL);
    if (Cancelled == NULL || PyModule_AddObject(m, "Cancelled", Cancelled) < 0)
        return NULL;
    Py_INCREF(Cancelled);
    Py_INCREF(&ConnType);
    if (PyModule_AddObject(m, "Conn", (PyObject *)&ConnType) < 0)
        return NULL;
#ifdef HAVE_CP
    PyModule_AddIntConstant(m, "HAVE_EINTR", 1);
#else
    PyModule_AddIntConstant(m, "HAVE_EINTR", 0);
#endif
    return m;
}
