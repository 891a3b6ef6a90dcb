/*
 * Lowercase hex SHA-256 of many byte strings in one call: the hashing loop of match_keys.encode_rows.
 *
 * Optional: scripts/build_native.py compiles it when `make install` finds a C compiler and OpenSSL's
 * headers, and integrations/facebook/hex_digests.py falls back to the same loop in Python (same
 * output, tested against each other) when it is not there.
 *
 * Why it exists: hashing in Python costs one SHA-256 object, one update and one hexdigest() per
 * value. For a value of a few dozen bytes that overhead is several times the hashing itself (one
 * 64-byte block, a few dozen nanoseconds with the CPU's SHA instructions). Measured at 1,000,000
 * one-value rows on a 2-core EPYC: 556 ns a row in Python, 258 ns here (docs/performance.md).
 *
 * It uses OpenSSL's low-level SHA256_Init/Update/Final on a context on the stack: deprecated since
 * OpenSSL 3.0 but still built by default, and the fast path. The one-shot SHA256() of OpenSSL 3.0
 * fetches the algorithm on every call (648 ns a row, slower than Python); EVP with one reused
 * context measured 317-349 ns and would need a context per thread.
 *
 * Everything runs with the GIL held: a block of 2,048 values takes about half a millisecond.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/sha.h>

static const char HEX_DIGITS[] = "0123456789abcdef";

/* New reference to the 64-character lowercase hex digest of `piece` (a bytes object). */
static PyObject *
hex_digest(PyObject *piece)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, PyBytes_AS_STRING(piece), (size_t)PyBytes_GET_SIZE(piece));
    SHA256_Final(digest, &context);

    PyObject *text = PyUnicode_New(2 * SHA256_DIGEST_LENGTH, 127);
    if (text == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = HEX_DIGITS[digest[i] >> 4];
        out[2 * i + 1] = HEX_DIGITS[digest[i] & 0x0F];
    }
    return text;
}

/* Sets *pieces and *marks to new tuples of the items of the two list arguments, after checking
 * them: equal lengths, bytes objects only. Allocating objects can run the garbage collector and so
 * any finaliser, which could resize or refill a list it can reach; the tuples cannot change, and
 * their references keep every piece alive. A mark is true when it is not empty. */
static int
take_arguments(const char *name, PyObject *const *args, Py_ssize_t nargs, PyObject **pieces, PyObject **marks)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 2 positional arguments (%zd given)", name, nargs);
        return -1;
    }
    if (!PyList_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "%s(): pieces and marks must be lists", name);
        return -1;
    }
    *pieces = PyList_AsTuple(args[0]);
    *marks = *pieces == NULL ? NULL : PyList_AsTuple(args[1]);
    if (*marks == NULL) {
        Py_CLEAR(*pieces);
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(*pieces);
    if (PyTuple_GET_SIZE(*marks) != count) {
        PyErr_Format(PyExc_ValueError, "%s(): pieces and marks differ in length", name);
        goto refused;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(*pieces, i)) || !PyBytes_Check(PyTuple_GET_ITEM(*marks, i))) {
            PyErr_Format(PyExc_TypeError, "%s(): item %zd of pieces or marks is not bytes", name, i);
            goto refused;
        }
    }
    return 0;

refused:
    Py_CLEAR(*pieces);
    Py_CLEAR(*marks);
    return -1;
}

#define IS_MARKED(marks, i) (PyBytes_GET_SIZE(PyTuple_GET_ITEM((marks), (i))) != 0)

PyDoc_STRVAR(digest_rows_doc,
"digest_rows(pieces, marks, /)\n--\n\n"
"[[sha256(piece).hexdigest()] for piece, mark in zip(pieces, marks) if mark]: one-value rows.\n"
"Both arguments are lists of bytes of the same length.");

static PyObject *
digest_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *pieces, *marks;
    if (take_arguments("digest_rows", args, nargs, &pieces, &marks) < 0) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(pieces), marked = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        marked += IS_MARKED(marks, i);
    }
    PyObject *rows = PyList_New(marked);
    Py_ssize_t filled = 0;
    for (Py_ssize_t i = 0; rows != NULL && i < count; i++) {
        if (!IS_MARKED(marks, i)) {
            continue;
        }
        PyObject *row = PyList_New(1);
        if (row == NULL) {
            Py_CLEAR(rows);  /* slots not filled yet are NULL, which the list's deallocation skips */
            break;
        }
        PyList_SET_ITEM(rows, filled++, row);
        PyObject *text = hex_digest(PyTuple_GET_ITEM(pieces, i));
        if (text == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyList_SET_ITEM(row, 0, text);
    }
    Py_DECREF(pieces);
    Py_DECREF(marks);
    return rows;
}

PyDoc_STRVAR(digests_doc,
"digests(pieces, marks, /)\n--\n\n"
"[sha256(piece).hexdigest() if mark else \"\" for piece, mark in zip(pieces, marks)].\n"
"Both arguments are lists of bytes of the same length.");

static PyObject *
digests(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *pieces, *marks;
    if (take_arguments("digests", args, nargs, &pieces, &marks) < 0) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(pieces);
    PyObject *out = PyList_New(count);
    PyObject *empty = PyUnicode_New(0, 0);  /* the shared empty string */
    if (empty == NULL) {
        Py_CLEAR(out);
    }
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) {
        PyObject *text = IS_MARKED(marks, i) ? hex_digest(PyTuple_GET_ITEM(pieces, i)) : Py_NewRef(empty);
        if (text == NULL) {
            Py_CLEAR(out);  /* slots not filled yet are NULL, which the list's deallocation skips */
            break;
        }
        PyList_SET_ITEM(out, i, text);
    }
    Py_XDECREF(empty);
    Py_DECREF(pieces);
    Py_DECREF(marks);
    return out;
}

static PyMethodDef methods[] = {
    {"digest_rows", (PyCFunction)(void (*)(void))digest_rows, METH_FASTCALL, digest_rows_doc},
    {"digests", (PyCFunction)(void (*)(void))digests, METH_FASTCALL, digests_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_sha256_hex",
    .m_doc = "Lowercase hex SHA-256 of many byte strings in one call (OpenSSL).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__sha256_hex(void)
{
    return PyModuleDef_Init(&module_definition);
}
