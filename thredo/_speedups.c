/* thredo._speedups: recv and send that keep the GIL (optional accelerator).
 *
 * Why: a thredo socket's recv has already waited in poll() for the socket to
 * be readable (the wait every cancellable call needs), so the recv itself
 * cannot block.  The stdlib's recv/send release the GIL around the system
 * call all the same; with two or more CPUs another thread takes it, and the
 * caller then sleeps on the GIL: a hand-off to another core per call.
 * Measured on the echo benchmark (docs/design.md, section 9): unpinned,
 * server CPU per round trip 122 -> 62 us and context switches 9.7 -> 3.2.
 * On one CPU releasing the GIL is the better choice (a thread woken by the
 * kernel runs while the caller is in its system call), so thredo.net.socket
 * uses these only when the process may run on more than one CPU.
 *
 * Both always pass MSG_DONTWAIT, so they never block while holding the GIL,
 * and return None when the call would block (EAGAIN, EWOULDBLOCK) or was
 * interrupted (EINTR): the caller then takes the ordinary path, which waits
 * and retries.  Other errors raise OSError as the stdlib's calls do.
 *
 * Built by hatch_build.py when a C compiler and Python's headers exist; the
 * pure-Python path is complete without it (THREDO_KEEP_GIL=0 forces it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/socket.h>

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

static PyMethodDef methods[] = {
    {"recv", (PyCFunction)(void (*)(void))sp_recv, METH_FASTCALL,
     "recv(fd, bufsize, flags): recv with MSG_DONTWAIT, keeping the GIL; None if it would block."},
    {"send", (PyCFunction)(void (*)(void))sp_send, METH_FASTCALL,
     "send(fd, data, flags): send with MSG_DONTWAIT, keeping the GIL; None if it would block."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "thredo._speedups",
    "recv and send that keep the GIL (thredo's optional accelerator).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
