/* recommender._realtime: the loops of recommender.realtime that run on every request with live
 * items, in C. Each gives what the Python it replaced gave, to the bit: the same additions in
 * the same order, the same stable order of ties.
 *
 * session(newest, neighbours, depth, offset, decay) -> (list[int], list[int])
 *
 * newest: the live items, newest first. ``neighbours(item)`` gives an item's similar items and
 * scores, best first, or None; the first ``depth`` of them with a positive score are the live
 * item's list. The similar item at rank r (from 1) of the live item ``age`` places from the
 * newest adds decay ** age / (offset + r) to its total (a list names an item once). The
 * candidates, all items named but the live items, come back by total, largest first; equal
 * totals keep the order in which the items were first named (as Python's stable sort of a
 * dict's keys); each total is summed in list order, so it is the same double as the Python
 * loop gave. With them, in the same order, the live item whose list added the most to each
 * (the newest of those on a tie).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

/* One item's entry in a table of a call: open addressing over a power-of-two size at least
 * twice the entries, so a probe always ends. */
typedef struct {
    long item;
    double total;
    double part;      /* session: the largest value one list added; fuse: the first list's */
    Py_ssize_t first; /* order of first appearance */
    PyObject *source; /* session, borrowed: the live item of the list that added ``part`` */
    int used;
    int excluded;
} Slot;

static size_t table_size(Py_ssize_t entries)
{
    size_t size = 16;
    while (size < (size_t)entries * 2)
        size <<= 1;
    return size;
}

static Slot *find(Slot *table, size_t mask, long item)
{
    size_t at = ((size_t)item * 0x9E3779B97F4A7C15ull) & mask;
    while (table[at].used && table[at].item != item)
        at = (at + 1) & mask;
    return &table[at];
}

/* the slot of ``item``, added (total 0, in order of first appearance) if it was not there */
static Slot *slot_of(Slot *table, size_t mask, long item, Slot **order, Py_ssize_t *distinct)
{
    Slot *slot = find(table, mask, item);
    if (!slot->used) {
        slot->used = 1;
        slot->item = item;
        slot->first = *distinct;
        order[(*distinct)++] = slot;
    }
    return slot;
}

/* by total, largest first; equal totals in order of first appearance (a stable sort's order) */
static int by_total(const void *a, const void *b)
{
    const Slot *x = *(const Slot *const *)a, *y = *(const Slot *const *)b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return x->first < y->first ? -1 : (x->first > y->first);
}

typedef struct {
    PyObject *live;  /* borrowed from newest */
    PyObject *items; /* owned: the similar items as a list or tuple */
    Py_ssize_t n;
    double weight;
} Found;

/* the similar list of each live item, trimmed of its tail that is not similar at all */
static Py_ssize_t gather(PyObject *newest, PyObject *neighbours, Py_ssize_t depth, double decay,
                         Found *found, Py_ssize_t *entries)
{
    Py_ssize_t count = 0;
    double weight = 1.0;
    for (Py_ssize_t age = 0; age < PySequence_Fast_GET_SIZE(newest); age++) {
        if (age > 0)
            weight *= decay; /* decay ** age, multiplied out as the Python did */
        PyObject *live = PySequence_Fast_GET_ITEM(newest, age);
        PyObject *result = PyObject_CallOneArg(neighbours, live);
        if (result == NULL)
            return -1;
        if (result == Py_None) {
            Py_DECREF(result);
            continue;
        }
        PyObject *pair = PySequence_Fast(result, "neighbours must give (items, scores)");
        Py_DECREF(result);
        if (pair == NULL)
            return -1;
        if (PySequence_Fast_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            PyErr_SetString(PyExc_ValueError, "neighbours must give (items, scores)");
            return -1;
        }
        PyObject *items = PySequence_Fast(PySequence_Fast_GET_ITEM(pair, 0), "items");
        PyObject *scores = PySequence_Fast(PySequence_Fast_GET_ITEM(pair, 1), "scores");
        Py_DECREF(pair);
        if (items == NULL || scores == NULL) {
            Py_XDECREF(items);
            Py_XDECREF(scores);
            return -1;
        }
        Py_ssize_t n = depth;
        if (n > PySequence_Fast_GET_SIZE(items))
            n = PySequence_Fast_GET_SIZE(items);
        if (n > PySequence_Fast_GET_SIZE(scores))
            n = PySequence_Fast_GET_SIZE(scores);
        while (n > 0) { /* best first: the tail that is not similar at all */
            double score = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(scores, n - 1));
            if (score == -1.0 && PyErr_Occurred()) {
                Py_DECREF(items);
                Py_DECREF(scores);
                return -1;
            }
            if (score > 0)
                break;
            n--;
        }
        Py_DECREF(scores);
        found[count].live = live;
        found[count].items = items;
        found[count].n = n;
        found[count].weight = weight;
        *entries += n;
        count++;
    }
    return count;
}

static PyObject *session(PyObject *self, PyObject *args)
{
    PyObject *newest_arg, *neighbours;
    Py_ssize_t depth;
    long offset;
    double decay;
    if (!PyArg_ParseTuple(args, "OOnld", &newest_arg, &neighbours, &depth, &offset, &decay))
        return NULL;
    PyObject *newest = PySequence_Fast(newest_arg, "newest must be a sequence");
    if (newest == NULL)
        return NULL;
    Py_ssize_t n_live = PySequence_Fast_GET_SIZE(newest), entries = 0, count = 0;
    Found *found = PyMem_Calloc(n_live ? n_live : 1, sizeof(Found));
    Slot *table = NULL, **order = NULL;
    PyObject *out = NULL;
    if (found == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    count = gather(newest, neighbours, depth, decay, found, &entries);
    if (count < 0) {
        count = n_live; /* free what was gathered (the rest is zeroed) */
        goto done;
    }
    size_t size = table_size(entries);
    table = PyMem_Calloc(size, sizeof(Slot));
    order = PyMem_Malloc((entries ? entries : 1) * sizeof(Slot *));
    if (table == NULL || order == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t distinct = 0;
    for (Py_ssize_t l = 0; l < count; l++) {
        PyObject **item_at = PySequence_Fast_ITEMS(found[l].items);
        for (Py_ssize_t i = 0; i < found[l].n; i++) {
            long item = PyLong_AsLong(item_at[i]);
            if (item == -1 && PyErr_Occurred())
                goto done;
            /* what the similar item at rank i + 1 adds: weight / (offset + rank) */
            double value = found[l].weight * (1.0 / (double)(offset + i + 1));
            Slot *slot = slot_of(table, size - 1, item, order, &distinct);
            if (slot->source == NULL) { /* just added: its first value is its total */
                slot->total = slot->part = value;
                slot->source = found[l].live;
            } else {
                slot->total += value;
                if (value > slot->part) {
                    slot->part = value;
                    slot->source = found[l].live;
                }
            }
        }
    }
    for (Py_ssize_t e = 0; e < n_live; e++) { /* the live items are not candidates */
        long item = PyLong_AsLong(PySequence_Fast_GET_ITEM(newest, e));
        if (item == -1 && PyErr_Occurred())
            goto done;
        Slot *slot = find(table, size - 1, item);
        if (slot->used)
            slot->excluded = 1;
    }
    qsort(order, distinct, sizeof(Slot *), by_total);
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < distinct; k++)
        if (!order[k]->excluded)
            order[kept++] = order[k];
    PyObject *ranked = PyList_New(kept), *sources = PyList_New(kept);
    if (ranked == NULL || sources == NULL) {
        Py_XDECREF(ranked);
        Py_XDECREF(sources);
        goto done;
    }
    for (Py_ssize_t k = 0; k < kept; k++) {
        PyObject *item = PyLong_FromLong(order[k]->item);
        if (item == NULL) {
            Py_DECREF(ranked);
            Py_DECREF(sources);
            goto done;
        }
        PyList_SET_ITEM(ranked, k, item);
        Py_INCREF(order[k]->source);
        PyList_SET_ITEM(sources, k, order[k]->source);
    }
    out = PyTuple_Pack(2, ranked, sources);
    Py_DECREF(ranked);
    Py_DECREF(sources);
done:
    if (found != NULL)
        for (Py_ssize_t l = 0; l < count; l++)
            Py_XDECREF(found[l].items);
    PyMem_Free(found);
    PyMem_Free(table);
    PyMem_Free(order);
    Py_DECREF(newest);
    return out;
}

/* fuse(first, second, weight, offset, n, fused) -> list of fused(item, score, second)
 *
 * The n best items of ``first`` (weight 1) and ``second`` (``weight``) by weighted reciprocal
 * rank: the item at rank r (from 1) adds weight / (offset + r); an item repeated in ``first``
 * counts once. Ties keep the order of first appearance (``first``'s items, then ``second``'s
 * new ones). ``second`` says whether the second list's share of the score is the larger.
 */
static PyObject *fuse(PyObject *self, PyObject *args)
{
    PyObject *first_arg, *second_arg, *fused;
    double weight;
    long offset;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOdlnO", &first_arg, &second_arg, &weight, &offset, &n, &fused))
        return NULL;
    PyObject *first = PySequence_Fast(first_arg, "first must be a sequence");
    if (first == NULL)
        return NULL;
    PyObject *second = PySequence_Fast(second_arg, "second must be a sequence");
    if (second == NULL) {
        Py_DECREF(first);
        return NULL;
    }
    Py_ssize_t n_first = PySequence_Fast_GET_SIZE(first), n_second = PySequence_Fast_GET_SIZE(second);
    size_t size = table_size(n_first + n_second);
    Slot *table = PyMem_Calloc(size, sizeof(Slot));
    Slot **order = PyMem_Malloc((n_first + n_second + 1) * sizeof(Slot *));
    PyObject *out = NULL;
    if (table == NULL || order == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t distinct = 0;
    PyObject **items = PySequence_Fast_ITEMS(first);
    for (Py_ssize_t r = 0; r < n_first; r++) {
        long item = PyLong_AsLong(items[r]);
        if (item == -1 && PyErr_Occurred())
            goto done;
        Py_ssize_t before = distinct;
        Slot *slot = slot_of(table, size - 1, item, order, &distinct);
        if (distinct > before) /* an item repeated in first counts once */
            slot->total = slot->part = 1.0 / (double)(offset + r + 1);
    }
    items = PySequence_Fast_ITEMS(second);
    for (Py_ssize_t r = 0; r < n_second; r++) {
        long item = PyLong_AsLong(items[r]);
        if (item == -1 && PyErr_Occurred())
            goto done;
        Slot *slot = slot_of(table, size - 1, item, order, &distinct);
        slot->total = slot->total + weight / (double)(offset + r + 1);
    }
    qsort(order, distinct, sizeof(Slot *), by_total);
    if (n > distinct)
        n = distinct;
    if (n < 0)
        n = 0;
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        Slot *slot = order[k];
        PyObject *value = PyObject_CallFunction(
            fused, "ldO", slot->item, slot->total,
            slot->total - slot->part > slot->part ? Py_True : Py_False);
        if (value == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, k, value);
    }
done:
    PyMem_Free(table);
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
