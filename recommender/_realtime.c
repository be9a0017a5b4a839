/* recommender._realtime: the loops of recommender.realtime that run on every request with live
 * items, in C. Each gives what the Python it replaced gave, to the bit: the same additions in
 * the same order, the same stable order of ties.
 *
 * session(newest, neighbours, depth, offset, decay) -> (list[int], list[int])
 *
 * newest: the live items, newest first. ``neighbours(item)`` gives an item's similar items and
 * scores, best first (sequences, or compact: an array('l') and an array('d')), or None; the
 * first ``depth`` of them with a positive score are the live item's list. The similar item at
 * rank r (from 1) of the live item ``age`` places from the newest adds decay ** age / (offset + r) to its total (a list names an item once). The
 * candidates, all items named but the live items, come back by total, largest first; equal
 * totals keep the order in which the items were first named (as Python's stable sort of a
 * dict's keys); each total is summed in list order, so it is the same double as the Python
 * loop gave. With them, in the same order, the live item whose list added the most to each
 * (the newest of those on a tie).
 *
 * The loops themselves are in _rank.h, which serving._walk compiles too.
 */
#include "_rank.h"

static PyObject *session(PyObject *self, PyObject *args)
{
    PyObject *newest, *neighbours;
    Py_ssize_t depth;
    long offset;
    double decay;
    if (!PyArg_ParseTuple(args, "OOnld", &newest, &neighbours, &depth, &offset, &decay))
        return NULL;
    Session session;
    PyObject *out = NULL;
    if (session_open(&session, newest, neighbours, depth, offset, decay) < 0)
        goto done;
    Py_ssize_t kept = session.kept;
    PyObject *ranked = PyList_New(kept), *sources = PyList_New(kept);
    if (ranked == NULL || sources == NULL) {
        Py_XDECREF(ranked);
        Py_XDECREF(sources);
        goto done;
    }
    for (Py_ssize_t k = 0; k < kept; k++) {
        PyObject *item = item_object(session.order[k]);
        if (item == NULL) {
            Py_DECREF(ranked);
            Py_DECREF(sources);
            goto done;
        }
        PyList_SET_ITEM(ranked, k, item);
        Py_INCREF(session.order[k]->source);
        PyList_SET_ITEM(sources, k, session.order[k]->source);
    }
    out = PyTuple_Pack(2, ranked, sources);
    Py_DECREF(ranked);
    Py_DECREF(sources);
done:
    session_close(&session);
    return out;
}

/* fuse(first, second, weight, offset, n, fused) -> list of fused(item, score, second), fused a
 * subclass of tuple (a named tuple)
 *
 * The n best items of ``first`` (weight 1) and ``second`` (``weight``) by weighted reciprocal
 * rank: the item at rank r (from 1) adds weight / (offset + r); an item repeated in ``first``
 * counts once. Ties keep the order of first appearance (``first``'s items, then ``second``'s
 * new ones). ``second`` says whether the item is the second list's: not in the first, or with
 * the larger share of the score from the second.
 */
static PyObject *fuse(PyObject *self, PyObject *args)
{
    PyObject *first_arg, *second_arg, *fused;
    double weight;
    long offset;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOdlnO!", &first_arg, &second_arg, &weight, &offset, &n,
                          &PyType_Type, &fused))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)fused, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "fused must be a tuple type (a named tuple)");
        return NULL;
    }
    PyObject *first = PySequence_Fast(first_arg, "first must be a sequence");
    if (first == NULL)
        return NULL;
    PyObject *second = PySequence_Fast(second_arg, "second must be a sequence");
    if (second == NULL) {
        Py_DECREF(first);
        return NULL;
    }
    Table table = {0};
    Slot **order = NULL;
    PyObject *out = NULL;
    if (fuse_open(&table, &order, PySequence_Fast_ITEMS(first), PySequence_Fast_GET_SIZE(first),
                  PySequence_Fast_ITEMS(second), PySequence_Fast_GET_SIZE(second), weight,
                  offset) < 0)
        goto done;
    if (n > table.count)
        n = table.count;
    if (n < 0)
        n = 0;
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        Slot *slot = order[k];
        PyObject *args = Py_BuildValue("((NdO))", item_object(slot), slot->total,
                                       theirs(slot) ? Py_True : Py_False);
        /* tuple.__new__(fused, (item, score, second)), as a named tuple's _make does, without
         * its Python __new__ (which cost more than the fusion) */
        PyObject *value =
            args == NULL ? NULL : PyTuple_Type.tp_new((PyTypeObject *)fused, args, NULL);
        Py_XDECREF(args);
        if (value == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, k, value);
    }
done:
    table_close(&table);
    PyMem_Free(order);
    Py_DECREF(first);
    Py_DECREF(second);
    return out;
}

static PyMethodDef methods[] = {
    {"fuse", fuse, METH_VARARGS,
     "fuse(first, second, weight, offset, n, fused): the n best items of two lists by weighted "
     "reciprocal rank, as fused(item, score, second)."},
    {"session", session, METH_VARARGS,
     "session(newest, neighbours, depth, offset, decay): session candidates by summed weighted "
     "reciprocal ranks, and the live item that brought each."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_realtime", NULL, -1, methods};

PyMODINIT_FUNC PyInit__realtime(void) { return PyModule_Create(&module); }
