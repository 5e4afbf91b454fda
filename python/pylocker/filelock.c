/* pylocker._pylocker.FileLock: the library's lock-file locker (PylockerFileLock) for Python.
 *
 * The file the seed's Locker opens is opened by the Python layer, as the seed does, so the C locker
 * is made without a file path. Calls are serialized by a mutex (a Python Locker may be shared by
 * threads) and made with the GIL released; an acquire waits in slices so that Ctrl-C is seen. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_pylocker.h"

typedef struct FileLock {
        PyObject_HEAD
        pthread_mutex_t mutex;
        PylockerFileLock *lock;
        bool mutex_ready;
} FileLock;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t add_usec(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static PylockerFileLock *file_lock_make(const char *lock_pass, PylockerError *error) {
        PylockerFileLock *lock = NULL;

        if (pylocker_file_lock_new(/* file_path= */ NULL, lock_pass, &lock, error) < 0)
                return NULL;
        return lock;
}

/* FileLock(lock_pass) */
static int file_lock_init(FileLock *self, PyObject *args, PyObject *kwds) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerFileLock *lock;
        const char *lock_pass;

        if (!PyArg_ParseTuple(args, "s", &lock_pass))
                return -1;
        lock = file_lock_make(lock_pass, &error);
        if (!lock) {
                pylocker_py_raise(error.code ?: -EINVAL, &error);
                return -1;
        }
        if (!self->mutex_ready) {
                if (pthread_mutex_init(&self->mutex, NULL) != 0) {
                        pylocker_file_lock_free(lock);
                        PyErr_SetString(PyExc_OSError, "cannot make a mutex");
                        return -1;
                }
                self->mutex_ready = true;
        }
        (void) pthread_mutex_lock(&self->mutex);
        pylocker_file_lock_free(self->lock);
        self->lock = lock;
        (void) pthread_mutex_unlock(&self->mutex);
        return 0;
}

static void file_lock_dealloc(FileLock *self) {
        if (self->mutex_ready) {
                Py_BEGIN_ALLOW_THREADS
                /* Releases the lock if this locker set it. */
                self->lock = pylocker_file_lock_free(self->lock);
                Py_END_ALLOW_THREADS
                (void) pthread_mutex_destroy(&self->mutex);
        }
        Py_TYPE(self)->tp_free((PyObject *) self);
}

static int file_lock_ready(FileLock *self) {
        if (!self->lock) {
                PyErr_SetString(PyExc_RuntimeError, "FileLock is not initialized");
                return -1;
        }
        return 0;
}

/* set_lock_pass(pass): a new C locker with the same settings; the old one releases what it set. */
static PyObject *file_lock_set_lock_pass(FileLock *self, PyObject *args) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        PylockerFileLock *lock, *old;
        const char *lock_pass;
        int r;

        if (!PyArg_ParseTuple(args, "s", &lock_pass) || file_lock_ready(self) < 0)
                return NULL;

        Py_BEGIN_ALLOW_THREADS
        (void) pthread_mutex_lock(&self->mutex);
        old = self->lock;
        lock = file_lock_make(lock_pass, &error);
        r = lock ? 0 : (error.code ?: -EINVAL);
        if (r >= 0)
                r = pylocker_file_lock_set_mode(lock, pylocker_file_lock_get_mode(old), &error);
        if (r >= 0)
                r = pylocker_file_lock_set_lock_path(lock, pylocker_file_lock_get_lock_path(old), &error);
        if (r >= 0)
                r = pylocker_file_lock_set_timeout(lock, pylocker_file_lock_get_timeout(old), &error);
        if (r >= 0)
                r = pylocker_file_lock_set_wait(lock, pylocker_file_lock_get_wait(old), &error);
        if (r >= 0)
                r = pylocker_file_lock_set_dead_lock(lock, pylocker_file_lock_get_dead_lock(old), &error);
        if (r >= 0) {
                self->lock = lock;
                lock = old;
        }
        (void) pthread_mutex_unlock(&self->mutex);
        pylocker_file_lock_free(lock);
        Py_END_ALLOW_THREADS

        if (r < 0)
                return pylocker_py_raise(r, &error);
        Py_RETURN_NONE;
}

enum { SET_MODE, SET_LOCK_PATH, SET_TIMEOUT, SET_WAIT, SET_DEAD_LOCK };

static PyObject *file_lock_set(FileLock *self, PyObject *args, int what) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        unsigned long long usec = 0;
        const char *text = NULL;
        int r, ok;

        if (what == SET_MODE)
                ok = PyArg_ParseTuple(args, "s", &text);
        else if (what == SET_LOCK_PATH)
                ok = PyArg_ParseTuple(args, "z", &text);
        else
                ok = PyArg_ParseTuple(args, "K", &usec);
        if (!ok || file_lock_ready(self) < 0)
                return NULL;

        Py_BEGIN_ALLOW_THREADS
        (void) pthread_mutex_lock(&self->mutex);
        switch (what) {
        case SET_MODE:
                r = pylocker_file_lock_set_mode(self->lock, text, &error);
                break;
        case SET_LOCK_PATH:
                r = pylocker_file_lock_set_lock_path(self->lock, text, &error);
                break;
        case SET_TIMEOUT:
                r = pylocker_file_lock_set_timeout(self->lock, usec, &error);
                break;
        case SET_WAIT:
                r = pylocker_file_lock_set_wait(self->lock, usec, &error);
                break;
        default:
                r = pylocker_file_lock_set_dead_lock(self->lock, usec, &error);
                break;
        }
        (void) pthread_mutex_unlock(&self->mutex);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        Py_RETURN_NONE;
}

static PyObject *file_lock_set_mode(FileLock *self, PyObject *args) {
        return file_lock_set(self, args, SET_MODE);
}

static PyObject *file_lock_set_lock_path(FileLock *self, PyObject *args) {
        return file_lock_set(self, args, SET_LOCK_PATH);
}

static PyObject *file_lock_set_timeout(FileLock *self, PyObject *args) {
        return file_lock_set(self, args, SET_TIMEOUT);
}

static PyObject *file_lock_set_wait(FileLock *self, PyObject *args) {
        return file_lock_set(self, args, SET_WAIT);
}

static PyObject *file_lock_set_dead_lock(FileLock *self, PyObject *args) {
        return file_lock_set(self, args, SET_DEAD_LOCK);
}

/* (lock pass, mode, lock path, timeout µs, wait µs, dead-lock age µs) */
static PyObject *file_lock_settings(FileLock *self, PyObject *unused) {
        char *pass, *mode, *path;
        uint64_t timeout, wait, dead_lock;
        PyObject *result = NULL;

        if (file_lock_ready(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        (void) pthread_mutex_lock(&self->mutex);
        pass = strdup(pylocker_file_lock_get_lock_pass(self->lock));
        mode = strdup(pylocker_file_lock_get_mode(self->lock));
        path = strdup(pylocker_file_lock_get_lock_path(self->lock));
        timeout = pylocker_file_lock_get_timeout(self->lock);
        wait = pylocker_file_lock_get_wait(self->lock);
        dead_lock = pylocker_file_lock_get_dead_lock(self->lock);
        (void) pthread_mutex_unlock(&self->mutex);
        Py_END_ALLOW_THREADS

        if (pass && mode && path)
                result = Py_BuildValue("(NNNKKK)", pylocker_py_str(pass), pylocker_py_str(mode), pylocker_py_str(path),
                                       (unsigned long long) timeout, (unsigned long long) wait,
                                       (unsigned long long) dead_lock);
        else
                PyErr_NoMemory();
        free(pass);
        free(mode);
        free(path);
        return result;
}

/* acquire() -> the seed's acquire code (0 set, 1 already set, 2 taken over, 3 timed out); raises
 * Error. Waits in slices of the locker's own timeout, each at least as long as its wait, and looks at
 * Python's signals between them. */
static PyObject *file_lock_acquire(FileLock *self, PyObject *unused) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        uint64_t timeout, wait, deadline, slice_min;
        int r;

        if (file_lock_ready(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        (void) pthread_mutex_lock(&self->mutex);
        timeout = pylocker_file_lock_get_timeout(self->lock);
        wait = pylocker_file_lock_get_wait(self->lock);
        (void) pthread_mutex_unlock(&self->mutex);
        Py_END_ALLOW_THREADS

        slice_min = PYLOCKER_PY_SLICE_MSEC * UINT64_C(1000);
        if (wait > slice_min)
                slice_min = wait;
        deadline = add_usec(now_usec(), timeout);

        for (;;) {
                uint64_t now = now_usec(), slice;

                slice = deadline > now ? deadline - now : 0;
                if (slice > slice_min)
                        slice = slice_min;

                Py_BEGIN_ALLOW_THREADS
                (void) pthread_mutex_lock(&self->mutex);
                r = pylocker_file_lock_set_timeout(self->lock, slice, &error);
                if (r >= 0)
                        r = pylocker_file_lock_acquire(self->lock, &error);
                (void) pylocker_file_lock_set_timeout(self->lock, timeout, NULL);
                (void) pthread_mutex_unlock(&self->mutex);
                Py_END_ALLOW_THREADS

                if (r != PYLOCKER_FILE_LOCK_TIMED_OUT || now_usec() >= deadline)
                        break;
                if (PyErr_CheckSignals() < 0)
                        return NULL;
        }
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return PyLong_FromLong(r);
}

/* release() -> the seed's release code (0 no lock file, 1 empty, 2 released, 4 not ours); raises
 * Error. */
static PyObject *file_lock_release(FileLock *self, PyObject *unused) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        if (file_lock_ready(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        (void) pthread_mutex_lock(&self->mutex);
        r = pylocker_file_lock_release(self->lock, &error);
        (void) pthread_mutex_unlock(&self->mutex);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        return PyLong_FromLong(r);
}

static PyObject *file_lock_refresh(FileLock *self, PyObject *unused) {
        PylockerError error = PYLOCKER_ERROR_INIT;
        int r;

        if (file_lock_ready(self) < 0)
                return NULL;
        Py_BEGIN_ALLOW_THREADS
        (void) pthread_mutex_lock(&self->mutex);
        r = pylocker_file_lock_refresh(self->lock, &error);
        (void) pthread_mutex_unlock(&self->mutex);
        Py_END_ALLOW_THREADS
        if (r < 0)
                return pylocker_py_raise(r, &error);
        Py_RETURN_NONE;
}

static PyMethodDef file_lock_methods[] = {
        { "set_lock_pass", (PyCFunction) file_lock_set_lock_pass, METH_VARARGS, "set_lock_pass(pass)" },
        { "set_mode", (PyCFunction) file_lock_set_mode, METH_VARARGS, "set_mode(mode)" },
        { "set_lock_path", (PyCFunction) file_lock_set_lock_path, METH_VARARGS, "set_lock_path(path or None)" },
        { "set_timeout", (PyCFunction) file_lock_set_timeout, METH_VARARGS, "set_timeout(usec)" },
        { "set_wait", (PyCFunction) file_lock_set_wait, METH_VARARGS, "set_wait(usec)" },
        { "set_dead_lock", (PyCFunction) file_lock_set_dead_lock, METH_VARARGS, "set_dead_lock(usec)" },
        { "settings", (PyCFunction) file_lock_settings, METH_NOARGS,
          "(lock pass, mode, lock path, timeout µs, wait µs, dead-lock age µs)" },
        { "acquire", (PyCFunction) file_lock_acquire, METH_NOARGS, "acquire() -> code" },
        { "release", (PyCFunction) file_lock_release, METH_NOARGS, "release() -> code" },
        { "refresh", (PyCFunction) file_lock_refresh, METH_NOARGS, "Rewrites the lock's time." },
        {}
};

PyTypeObject pylocker_py_file_lock_type = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "pylocker._pylocker.FileLock",
        .tp_doc = "The lock-file locker of libpylocker-dbus (lock pass + lock file).",
        .tp_basicsize = sizeof(FileLock),
        .tp_flags = Py_TPFLAGS_DEFAULT,
        .tp_new = PyType_GenericNew,
        .tp_init = (initproc) file_lock_init,
        .tp_dealloc = (destructor) file_lock_dealloc,
        .tp_methods = file_lock_methods,
};
