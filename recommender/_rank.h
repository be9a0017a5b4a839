/* recommender/_rank.h: the session ranking and rank fusion of recommender.realtime, in C, for
 * the two extensions that run them: recommender._realtime (what recommender.realtime and the
 * offline replay call) and serving._walk (a request's whole real-time step in one call). One
 * source, compiled into both.
 */
#ifndef RECSYS_RANK_H
#define RECSYS_RANK_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* One item's entry in a call's table; the entries lie in order of first appearance. */
typedef struct {
    long item;
    PyObject *key;    /* borrowed: the item as the caller's sequences hold it, or NULL */
    double total;
    double part;      /* session: the largest value one list added; fuse: the first list's */
    PyObject *source; /* session, borrowed: the live item of the list that added ``part`` */
    int marked;       /* session: a live item (no candidate); fuse: in the first list */
} Slot;

/* The items of a call: their slots, dense, and an open-addressing index over them (1 + a
 * slot's position, 0 for empty) of a power-of-two size at least twice the entries, so a probe
 * always ends; only the index is zeroed. */
typedef struct {
    Slot *slots;
    uint32_t *index;
    size_t mask;
    Py_ssize_t count;
} Table;

static int table_open(Table *table, Py_ssize_t entries)
{
    size_t size = 16;
    while (size < (size_t)entries * 2)
        size <<= 1;
    table->slots = PyMem_Malloc((entries ? entries : 1) * sizeof(Slot));
    table->index = PyMem_Calloc(size, sizeof(uint32_t));
    table->mask = size - 1;
    table->count = 0;
    if (table->slots == NULL || table->index == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void table_close(Table *table)
{
    PyMem_Free(table->slots);
    PyMem_Free(table->index);
}

static uint32_t *probe(Table *table, long item)
{
    size_t at = ((size_t)item * 0x9E3779B97F4A7C15ull) & table->mask;
    while (table->index[at] && table->slots[table->index[at] - 1].item != item)
        at = (at + 1) & table->mask;
    return &table->index[at];
}

/* the slot of ``item``, or NULL */
static Slot *find(Table *table, long item)
{
    uint32_t at = *probe(table, item);
    return at ? &table->slots[at - 1] : NULL;
}

/* the slot of ``item``, added (zeroed, after the others) if it was not there */
static Slot *slot_of(Table *table, long item, PyObject *key, int *added)
{
    uint32_t *at = probe(table, item);
    *added = !*at;
    if (*added) {
        Slot *slot = &table->slots[table->count++];
        *slot = (Slot){.item = item, .key = key};
        *at = (uint32_t)table->count;
    }
    return &table->slots[*at - 1];
}

/* a new reference to the slot's item as an int: the caller's own object when it is one */
static PyObject *item_object(const Slot *slot)
{
    if (slot->key != NULL && PyLong_CheckExact(slot->key)) {
        Py_INCREF(slot->key);
        return slot->key;
    }
    return PyLong_FromLong(slot->item);
}

/* A slot's sort key: by total, largest first; equal totals in order of first appearance (a
 * stable sort's order). Totals are finite: every value added is. */
typedef struct {
    double total;
    Py_ssize_t at;
} Key;

static inline int key_before(Key a, Key b)
{
    return a.total > b.total || (a.total == b.total && a.at < b.at);
}

#define RUN 16

/* keys sorted by ``key_before``: insertion-sorted runs, merged bottom-up through ``spare`` (a
 * qsort's comparison calls cost more than the rest of a session) */
static void sort_keys(Key *keys, Key *spare, Py_ssize_t n)
{
    for (Py_ssize_t start = 0; start < n; start += RUN) {
        Py_ssize_t end = start + RUN < n ? start + RUN : n;
        for (Py_ssize_t i = start + 1; i < end; i++) {
            Key key = keys[i];
            Py_ssize_t j = i;
            for (; j > start && key_before(key, keys[j - 1]); j--)
                keys[j] = keys[j - 1];
            keys[j] = key;
        }
    }
    Key *from = keys, *to = spare;
    for (Py_ssize_t width = RUN; width < n; width *= 2) {
        for (Py_ssize_t lo = 0; lo < n; lo += 2 * width) {
            Py_ssize_t mid = lo + width < n ? lo + width : n;
            Py_ssize_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            Py_ssize_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                to[k++] = key_before(from[j], from[i]) ? from[j++] : from[i++];
            while (i < mid)
                to[k++] = from[i++];
            while (j < hi)
                to[k++] = from[j++];
        }
        Key *swap = from;
        from = to;
        to = swap;
    }
    if (from != keys)
        memcpy(keys, from, n * sizeof(Key));
}

/* the table's slots by total (see ``Key``) in ``order``, room for them all; -1 without memory */
static int sorted(Table *table, Slot **order)
{
    Py_ssize_t n = table->count;
    Key *keys = PyMem_Malloc((2 * n + 1) * sizeof(Key));
    if (keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++)
        keys[k] = (Key){table->slots[k].total, k};
    sort_keys(keys, keys + n, n);
    for (Py_ssize_t k = 0; k < n; k++)
        order[k] = &table->slots[keys[k].at];
    PyMem_Free(keys);
    return 0;
}

typedef struct {
    PyObject *live;  /* borrowed from newest */
    PyObject *items; /* owned: the similar items as a list or tuple, or NULL when compact */
    Py_buffer raw;   /* compact: the similar items as a C long array (array('l')) */
    Py_ssize_t n;
    double weight;
} Found;

/* ``object`` as a contiguous array of ``format`` (one character) with items of ``size`` bytes,
 * in ``view``; 0 when it is not one (no error set) */
static int compact(PyObject *object, Py_buffer *view, char format, Py_ssize_t size)
{
    if (!PyObject_CheckBuffer(object))
        return 0;
    if (PyObject_GetBuffer(object, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        return 0;
    }
    const char *f = view->format;
    if (f != NULL && (*f == '@' || *f == '=')) /* native order; '=' has standard sizes */
        f++;
    if (f == NULL || f[0] != format || f[1] != '\0' || view->itemsize != size) {
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

static void release(Found *found)
{
    if (found->items != NULL)
        Py_CLEAR(found->items);
    else if (found->raw.obj != NULL)
        PyBuffer_Release(&found->raw);
}

/* one live item's similar list, trimmed of its tail that is not similar at all: items and
 * scores as sequences of ints and floats, or compact (array('l') and array('d'), as serving
 * keeps them: no Python object per entry to read); 0, or -1 with an error set */
static int gather_one(PyObject *pair_object, Py_ssize_t depth, Found *found)
{
    PyObject *pair = PySequence_Fast(pair_object, "neighbours must give (items, scores)");
    if (pair == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_ValueError, "neighbours must give (items, scores)");
        return -1;
    }
    PyObject *items_object = PySequence_Fast_GET_ITEM(pair, 0);
    PyObject *scores_object = PySequence_Fast_GET_ITEM(pair, 1);
    Py_buffer scores_raw = {0};
    PyObject *scores = NULL;
    int status = -1;
    if (compact(items_object, &found->raw, 'l', sizeof(long))) {
        if (!compact(scores_object, &scores_raw, 'd', sizeof(double))) {
            PyErr_SetString(PyExc_TypeError, "compact items need compact scores (array('d'))");
            goto done;
        }
    } else {
        found->items = PySequence_Fast(items_object, "items must be a sequence");
        scores = found->items ? PySequence_Fast(scores_object, "scores must be a sequence") : NULL;
        if (scores == NULL)
            goto done;
    }
    Py_ssize_t n_items = found->items ? PySequence_Fast_GET_SIZE(found->items)
                                      : found->raw.len / (Py_ssize_t)sizeof(long);
    Py_ssize_t n_scores = scores ? PySequence_Fast_GET_SIZE(scores)
                                 : scores_raw.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t n = depth < n_items ? depth : n_items;
    if (n > n_scores)
        n = n_scores;
    while (n > 0) { /* best first: the tail that is not similar at all */
        double score = scores ? PyFloat_AsDouble(PySequence_Fast_GET_ITEM(scores, n - 1))
                              : ((const double *)scores_raw.buf)[n - 1];
        if (score == -1.0 && PyErr_Occurred())
            goto done;
        if (score > 0)
            break;
        n--;
    }
    found->n = n;
    status = 0;
done:
    Py_DECREF(pair);
    Py_XDECREF(scores);
    if (scores_raw.obj != NULL)
        PyBuffer_Release(&scores_raw);
    return status;
}

/* the similar list of each live item (``gather_one``), weighted decay ** age */
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
        int status = gather_one(result, depth, &found[count]);
        Py_DECREF(result);
        if (status < 0) {
            release(&found[count]);
            return -1;
        }
        found[count].live = live;
        found[count].weight = weight;
        *entries += found[count].n;
        count++;
    }
    return count;
}

/* A session ranking (``session_open``): the candidates, best first, in ``order[0..kept)``, each
 * with its total and the live item that brought it (``source``, borrowed from ``newest``);
 * ``session_close`` frees it. */
typedef struct {
    PyObject *newest; /* owned: the live items, newest first, as a list or tuple */
    Found *found;
    Py_ssize_t gathered;
    Table table;
    Slot **order;
    Py_ssize_t kept;
} Session;

static void session_close(Session *session)
{
    if (session->found != NULL)
        for (Py_ssize_t l = 0; l < session->gathered; l++)
            release(&session->found[l]);
    PyMem_Free(session->found);
    table_close(&session->table);
    PyMem_Free(session->order);
    Py_CLEAR(session->newest);
}

/* the session ranking of ``newest`` (see recommender/_realtime.c, ``session``); 0, or -1 with
 * an error set (``session_close`` frees what was made either way) */
static int session_open(Session *session, PyObject *newest_arg, PyObject *neighbours,
                        Py_ssize_t depth, long offset, double decay)
{
    *session = (Session){0};
    PyObject *newest = session->newest =
        PySequence_Fast(newest_arg, "newest must be a sequence");
    if (newest == NULL)
        return -1;
    Py_ssize_t n_live = PySequence_Fast_GET_SIZE(newest), entries = 0;
    Found *found = session->found = PyMem_Calloc(n_live ? n_live : 1, sizeof(Found));
    if (found == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t count = gather(newest, neighbours, depth, decay, found, &entries);
    session->gathered = count < 0 ? n_live : count; /* on failure the rest is zeroed */
    if (count < 0)
        return -1;
    session->order = PyMem_Malloc((entries ? entries : 1) * sizeof(Slot *));
    if (table_open(&session->table, entries) < 0 || session->order == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Table *table = &session->table;
    for (Py_ssize_t l = 0; l < count; l++) {
        PyObject **objects = found[l].items ? PySequence_Fast_ITEMS(found[l].items) : NULL;
        const long *raw = found[l].raw.buf;
        for (Py_ssize_t i = 0; i < found[l].n; i++) {
            long item = objects ? PyLong_AsLong(objects[i]) : raw[i];
            if (item == -1 && PyErr_Occurred())
                return -1;
            /* what the similar item at rank i + 1 adds: weight / (offset + rank) */
            double value = found[l].weight * (1.0 / (double)(offset + i + 1));
            int added;
            Slot *slot = slot_of(table, item, objects ? objects[i] : NULL, &added);
            if (added) { /* its first value is its total */
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
            return -1;
        Slot *slot = find(table, item);
        if (slot != NULL)
            slot->marked = 1;
    }
    if (sorted(table, session->order) < 0)
        return -1;
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < table->count; k++)
        if (!session->order[k]->marked)
            session->order[kept++] = session->order[k];
    session->kept = kept;
    return 0;
}

/* Rank fusion (see recommender/_realtime.c, ``fuse``) of ``first`` and ``second`` (ints) into
 * ``table`` and ``order`` (by fused score, ``order`` allocated here; both freed by the caller
 * with ``table_close`` and ``PyMem_Free``, whatever happens); a slot of the first list is
 * ``marked``, its ``part`` the first list's share. 0, or -1 with an error set. */
static int fuse_open(Table *table, Slot ***order, PyObject *const *first, Py_ssize_t n_first,
                     PyObject *const *second, Py_ssize_t n_second, double weight, long offset)
{
    *order = PyMem_Malloc((n_first + n_second + 1) * sizeof(Slot *));
    if (table_open(table, n_first + n_second) < 0 || *order == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int added;
    for (Py_ssize_t r = 0; r < n_first; r++) {
        long item = PyLong_AsLong(first[r]);
        if (item == -1 && PyErr_Occurred())
            return -1;
        Slot *slot = slot_of(table, item, first[r], &added);
        if (added) { /* an item repeated in first counts once */
            slot->total = slot->part = 1.0 / (double)(offset + r + 1);
            slot->marked = 1;
        }
    }
    for (Py_ssize_t r = 0; r < n_second; r++) {
        long item = PyLong_AsLong(second[r]);
        if (item == -1 && PyErr_Occurred())
            return -1;
        Slot *slot = slot_of(table, item, second[r], &added);
        slot->total = slot->total + weight / (double)(offset + r + 1);
    }
    return sorted(table, *order);
}

/* whether a fused slot is the second list's: not in the first, or with the larger share */
static inline int theirs(const Slot *slot)
{
    return !slot->marked || slot->total - slot->part > slot->part;
}

#endif
