/* serving._walk: the loops every recommendation request runs (serving.ranking), in C: the walk
 * over its encoded ranked lists, the filter of candidates (``allowed``), and the real-time step
 * (``with_session``: the session ranking and fusion of recommender._realtime, from the same
 * source, recommender/_rank.h, with the filter and the response items).
 *
 * walk(runs, skip, blocked, kind_of, kind, category_of, category, limit, ids)
 *     -> [{"item_id": ids[item], "score": round(score, 4), "reason": reason}]
 *
 * runs: a list of (blob, flags, member, factor, reason) tuples. ``blob`` is a ranked list as
 * storage.codec encodes it; the run holds its items whose ``flags[item] is member`` (every item
 * when ``flags`` is None), scores boosted by ``factor`` (recommender.rules.boost). The runs are
 * merged best first by (-score, item, reason), the first run winning a full tie, as the Python
 * merge of their heads did. Items in ``skip`` or ``blocked``, of another kind than ``kind`` or,
 * when ``category`` is not None, of another category are passed over; the others are added to
 * ``skip`` and returned, at most ``limit`` of them, each as a response item: its id, its boosted
 * score rounded to 4 decimals (Python's ``round``) and its run's reason.
 */
#include "_rank.h"
#include <math.h>

#define HEADER 9
#define LEVELS 255.0
#define MAX_RUNS 8

typedef struct {
    const unsigned char *items;
    const unsigned char *levels;
    Py_ssize_t count;
    int width;
    double lo;
    double step;
    PyObject *flags;  /* borrowed list of bools, or NULL for every item */
    PyObject *member; /* borrowed Py_True / Py_False */
    double factor;
    PyObject *reason; /* borrowed str */
    Py_ssize_t position;
    int alive;
    double negative;
    unsigned long item;
} Run;

static unsigned long item_at(const Run *run, Py_ssize_t position)
{
    const unsigned char *p = run->items + position * run->width;
    if (run->width == 2)
        return (unsigned long)p[0] | ((unsigned long)p[1] << 8);
    return (unsigned long)p[0] | ((unsigned long)p[1] << 8) | ((unsigned long)p[2] << 16) |
           ((unsigned long)p[3] << 24);
}

static float float_at(const unsigned char *p)
{
    uint32_t bits = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                    ((uint32_t)p[3] << 24);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* storage.codec.read_list: header, items, levels; padding (the type's largest value) ends it */
static int open_run(Run *run, PyObject *blob)
{
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(blob, &data, &size) < 0)
        return -1;
    const unsigned char *bytes = (const unsigned char *)data;
    if (size < HEADER || (bytes[0] != 1 && bytes[0] != 2)) {
        PyErr_SetString(PyExc_ValueError, "not an encoded ranked list");
        return -1;
    }
    run->width = bytes[0] == 1 ? 2 : 4;
    double lo = (double)float_at(bytes + 1), hi = (double)float_at(bytes + 5);
    Py_ssize_t count = (size - HEADER) / (run->width + 1);
    run->items = bytes + HEADER;
    run->levels = bytes + HEADER + count * run->width;
    unsigned long marker = run->width == 2 ? 0xFFFFul : 0xFFFFFFFFul;
    Py_ssize_t end = 0;
    while (end < count && item_at(run, end) != marker)
        end++;
    run->count = end;
    run->lo = lo;
    run->step = (hi - lo) / LEVELS;
    run->position = -1;
    return 0;
}

/* the run's next item in its part of the list, or alive = 0 */
static int advance(Run *run)
{
    Py_ssize_t position = run->position + 1;
    for (; position < run->count; position++) {
        unsigned long item = item_at(run, position);
        if (run->flags != NULL) {
            if ((Py_ssize_t)item >= PyList_GET_SIZE(run->flags)) {
                PyErr_SetString(PyExc_IndexError, "list index out of range");
                return -1;
            }
            if (PyList_GET_ITEM(run->flags, item) != run->member)
                continue;
        }
        double score = run->lo + run->levels[position] * run->step;
        double factor = run->factor;
        run->position = position;
        run->item = item;
        run->negative = -(score >= 0 ? score * factor : score / factor);
        return 0;
    }
    run->position = position;
    run->alive = 0;
    return 0;
}

/* whether the head of a comes before the head of b: (negative, item, reason) */
static int before(const Run *a, const Run *b)
{
    if (a->negative != b->negative)
        return a->negative < b->negative;
    if (a->item != b->item)
        return a->item < b->item;
    return PyUnicode_Compare(a->reason, b->reason) < 0;
}

static int differs(PyObject *list, unsigned long item, PyObject *wanted)
{
    if ((Py_ssize_t)item >= PyList_GET_SIZE(list)) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return -1;
    }
    PyObject *value = PyList_GET_ITEM(list, item);
    if (value == wanted)
        return 0;
    return PyObject_RichCompareBool(value, wanted, Py_NE);
}

static PyObject *ITEM_ID, *SCORE, *REASON, *BECAUSE, *ROUND, *DIGITS;

/* round(x, 4) as Python gives it: the double nearest the decimal with 4 places nearest x, ties
 * to even. Python finds that decimal by printing x (dtoa) and reads it back. Where y = x * 10^4
 * is below 2^31 (so within 2^-22 of the exact product) and at least 0.0001 away from half-way
 * between two integers, the decimal's numerator is the integer nearest y, k, and k / 10^4 (a
 * correctly rounded division of exact values) is the double nearest it; otherwise Python's
 * round. */
static PyObject *rounded(double x)
{
    double y = x * 10000.0;
    if (fabs(y) < 2147483648.0) {
        double k = nearbyint(y);
        if (fabs(y - k) < 0.4999)
            return PyFloat_FromDouble(k / 10000.0);
    }
    PyObject *raw = PyFloat_FromDouble(x);
    if (raw == NULL)
        return NULL;
    PyObject *out = PyObject_CallMethodOneArg(raw, ROUND, DIGITS);
    Py_DECREF(raw);
    return out;
}

static PyObject *id_of(PyObject *ids, long item)
{
    if (item < 0 || item >= PyList_GET_SIZE(ids)) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return NULL;
    }
    return PyList_GET_ITEM(ids, item);
}

/* {"item_id": ids[item], "score": round(score, 4), "reason": reason} */
static PyObject *response_item(PyObject *ids, long item, double score, PyObject *reason)
{
    PyObject *id = id_of(ids, item);
    if (id == NULL)
        return NULL;
    PyObject *score4 = rounded(score);
    if (score4 == NULL)
        return NULL;
    PyObject *entry = PyDict_New();
    if (entry == NULL || PyDict_SetItem(entry, ITEM_ID, id) < 0 ||
        PyDict_SetItem(entry, SCORE, score4) < 0 || PyDict_SetItem(entry, REASON, reason) < 0) {
        Py_XDECREF(entry);
        Py_DECREF(score4);
        return NULL;
    }
    Py_DECREF(score4);
    return entry;
}

static PyObject *walk(PyObject *self, PyObject *args)
{
    PyObject *runs, *skip, *blocked, *kind_of, *kind, *category_of, *category, *ids;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!O!OO!UO!OnO!", &PyList_Type, &runs, &PySet_Type, &skip,
                          &blocked, &PyList_Type, &kind_of, &kind, &PyList_Type, &category_of,
                          &category, &limit, &PyList_Type, &ids))
        return NULL;
    Py_ssize_t n_runs = PyList_GET_SIZE(runs);
    if (n_runs > MAX_RUNS) {
        PyErr_SetString(PyExc_ValueError, "too many runs");
        return NULL;
    }
    Run table[MAX_RUNS];
    for (Py_ssize_t r = 0; r < n_runs; r++) {
        PyObject *spec = PyList_GET_ITEM(runs, r);
        PyObject *blob, *flags, *member, *reason;
        double factor;
        if (!PyArg_ParseTuple(spec, "SOO!dU", &blob, &flags, &PyBool_Type, &member, &factor,
                              &reason))
            return NULL;
        Run *run = &table[r];
        if (open_run(run, blob) < 0)
            return NULL;
        if (flags != Py_None && !PyList_Check(flags)) {
            PyErr_SetString(PyExc_TypeError, "flags must be a list or None");
            return NULL;
        }
        run->flags = flags == Py_None ? NULL : flags;
        run->member = member;
        run->factor = factor;
        run->reason = reason;
        run->alive = 1;
        if (advance(run) < 0)
            return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    int any_category = category == Py_None;
    while (limit > 0) {
        Run *best = NULL;
        for (Py_ssize_t r = 0; r < n_runs; r++) {
            Run *run = &table[r];
            if (run->alive && (best == NULL || before(run, best)))
                best = run;
        }
        if (best == NULL)
            break;
        unsigned long item = best->item;
        double negative = best->negative;
        PyObject *reason = best->reason;
        if (advance(best) < 0)
            goto fail;
        PyObject *key = PyLong_FromUnsignedLong(item);
        if (key == NULL)
            goto fail;
        int passed = PySet_Contains(skip, key);
        if (passed == 0)
            passed = PySequence_Contains(blocked, key);
        if (passed == 0)
            passed = differs(kind_of, item, kind);
        if (passed == 0 && !any_category)
            passed = differs(category_of, item, category);
        if (passed != 0) {
            Py_DECREF(key);
            if (passed < 0)
                goto fail;
            continue;
        }
        if (PySet_Add(skip, key) < 0) {
            Py_DECREF(key);
            goto fail;
        }
        Py_DECREF(key);
        PyObject *entry = response_item(ids, (long)item, -negative, reason);
        if (entry == NULL || PyList_Append(out, entry) < 0) {
            Py_XDECREF(entry);
            goto fail;
        }
        Py_DECREF(entry);
        if (PyList_GET_SIZE(out) == limit)
            break;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* The filter of ``allowed``: Filter.passes(key) is 1 when the item ``key`` (an int) passes, 0
 * when it is passed over, -1 on error. */
typedef struct {
    PyObject *skip, *blocked, *kind_of, *kind, *category_of, *category, *seen, *repeatable;
} Filter;

static int passes(const Filter *f, PyObject *key)
{
    long item = PyLong_AsLong(key);
    if (item == -1 && PyErr_Occurred())
        return -1;
    if (item < 0) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return -1;
    }
    int passed = PySet_Contains(f->skip, key);
    if (passed == 0)
        passed = PySequence_Contains(f->blocked, key);
    if (passed == 0)
        passed = differs(f->kind_of, (unsigned long)item, f->kind);
    if (passed == 0 && f->category != Py_None)
        passed = differs(f->category_of, (unsigned long)item, f->category);
    if (passed == 0) {
        passed = PySequence_Contains(f->seen, key);
        if (passed > 0 && f->repeatable != Py_None) /* seen: passed over unless repeatable */
            passed = differs(f->repeatable, (unsigned long)item, Py_True);
    }
    return passed < 0 ? -1 : !passed;
}

static int check_repeatable(PyObject *repeatable)
{
    if (repeatable != Py_None && !PyList_Check(repeatable)) {
        PyErr_SetString(PyExc_TypeError, "repeatable must be a list or None");
        return -1;
    }
    return 0;
}

static PyObject *allowed(PyObject *self, PyObject *args)
{
    PyObject *items, *skip, *blocked, *kind_of, *kind, *category_of, *category, *seen;
    PyObject *repeatable;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!O!OO!UO!OnOO", &PyList_Type, &items, &PySet_Type, &skip,
                          &blocked, &PyList_Type, &kind_of, &kind, &PyList_Type, &category_of,
                          &category, &limit, &seen, &repeatable))
        return NULL;
    if (check_repeatable(repeatable) < 0)
        return NULL;
    Filter filter = {skip, blocked, kind_of, kind, category_of, category, seen, repeatable};
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items) && PyList_GET_SIZE(out) < limit; i++) {
        PyObject *key = PyList_GET_ITEM(items, i);
        int passed = passes(&filter, key);
        if (passed < 0 || (passed && PyList_Append(out, key) < 0)) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* a fused slot as a response item: the first list's own item (the last of ``items`` with its
 * index) with the fused score, or a session item explained by ``because`` (the live item that
 * brought it) */
static PyObject *fused_item(const Slot *slot, PyObject *items, PyObject **index,
                            PyObject *because, PyObject *ids, PyObject *reason)
{
    if (theirs(slot)) {
        long source = PyLong_AsLong(because);
        PyObject *source_id = source == -1 && PyErr_Occurred() ? NULL : id_of(ids, source);
        PyObject *out = source_id == NULL
                            ? NULL
                            : response_item(ids, slot->item, slot->total * 100.0, reason);
        if (out != NULL && PyDict_SetItem(out, BECAUSE, source_id) < 0)
            Py_CLEAR(out);
        return out;
    }
    PyObject *score = rounded(slot->total * 100.0);
    if (score == NULL)
        return NULL;
    PyObject *out = NULL;
    for (Py_ssize_t i = PyList_GET_SIZE(items) - 1; i >= 0; i--) {
        long mine = PyLong_AsLong(index[i]);
        if (mine == -1 && PyErr_Occurred())
            break;
        if (mine == slot->item) {
            out = PyDict_Copy(PyList_GET_ITEM(items, i));
            if (out != NULL && PyDict_SetItem(out, SCORE, score) < 0)
                Py_CLEAR(out);
            break;
        }
    }
    Py_DECREF(score);
    return out;
}

/* with_session(items, index_of, newest, neighbours, depth, session_offset, decay, again, blocked,
 *              kind_of, kind, category_of, category, seen, repeatable, weight, offset, n, ids,
 *              reason) -> (list, bool)
 *
 * serving.ranking.with_session in one call: the session ranking of the live items ``newest``
 * (newest first; recommender.realtime.session_ranking), its first ``n`` candidates that the
 * filter of ``allowed`` passes (``again`` as its skip set), fused with the indices of ``items``
 * not in ``again`` (recommender.realtime.fuse, ``weight``, ``offset``) into response items (a
 * list item keeps its dict with the fused score, a session item gets ``reason`` and
 * ``because``; scores 100 x the fusion score, rounded as Python rounds), then the items in
 * ``again`` while the list is shorter than ``n``. Without candidates: ``items`` not in
 * ``again``, then those in it, ``n`` at most. Also whether there were candidates. Only the
 * candidates looked at become Python objects.
 */
static PyObject *with_session(PyObject *self, PyObject *args)
{
    PyObject *items, *index_of, *newest, *neighbours, *ids, *reason;
    Py_ssize_t depth, n;
    long session_offset, offset;
    double decay, weight;
    Filter filter;
    if (!PyArg_ParseTuple(args, "O!O!OOnldO!OO!UO!OOOdlnO!U", &PyList_Type, &items,
                          &PyDict_Type, &index_of, &newest, &neighbours, &depth,
                          &session_offset, &decay, &PySet_Type, &filter.skip, &filter.blocked,
                          &PyList_Type, &filter.kind_of, &filter.kind, &PyList_Type,
                          &filter.category_of, &filter.category, &filter.seen,
                          &filter.repeatable, &weight, &offset, &n, &PyList_Type, &ids,
                          &reason))
        return NULL;
    if (check_repeatable(filter.repeatable) < 0)
        return NULL;
    PyObject *again = filter.skip;
    Py_ssize_t count = PyList_GET_SIZE(items), picked = 0, kept = 0;
    if (n < 0)
        n = 0;
    Session session;
    Table table = {0};
    Slot **order = NULL;
    PyObject **index = PyMem_Malloc((2 * count + 1) * sizeof(PyObject *)), **mine = NULL;
    PyObject **candidates = PyMem_Calloc(n + 1, sizeof(PyObject *)); /* owned */
    PyObject **because = PyMem_Malloc((n + 1) * sizeof(PyObject *));   /* borrowed */
    char *moved = PyMem_Malloc(count + 1);
    PyObject *out = PyList_New(0), *result = NULL;
    int opened = session_open(&session, newest, neighbours, depth, session_offset, decay);
    if (opened < 0 || out == NULL)
        goto done;
    if (index == NULL || candidates == NULL || because == NULL || moved == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    mine = index + count; /* the indices not in again, borrowed */
    for (Py_ssize_t k = 0; k < session.kept && picked < n; k++) {
        PyObject *key = item_object(session.order[k]);
        int passed = key == NULL ? -1 : passes(&filter, key);
        if (passed < 0) {
            Py_XDECREF(key);
            goto done;
        }
        if (passed) {
            candidates[picked] = key;
            because[picked++] = session.order[k]->source;
        } else {
            Py_DECREF(key);
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *id = PyDict_Check(item) ? PyDict_GetItemWithError(item, ITEM_ID) : NULL;
        if (id == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_KeyError, "item_id");
            goto done;
        }
        index[i] = PyDict_GetItemWithError(index_of, id); /* borrowed: index_of keeps it */
        if (index[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, id);
            goto done;
        }
        int found = PySet_Contains(again, index[i]);
        if (found < 0)
            goto done;
        moved[i] = (char)found;
        if (!found)
            mine[kept++] = index[i];
    }
    if (picked == 0) {
        for (Py_ssize_t i = 0; i < count && PyList_GET_SIZE(out) < n; i++)
            if (!moved[i] && PyList_Append(out, PyList_GET_ITEM(items, i)) < 0)
                goto done;
    } else {
        if (fuse_open(&table, &order, mine, kept, candidates, picked, weight, offset) < 0)
            goto done;
        for (Py_ssize_t k = 0; k < table.count && k < n; k++) {
            Slot *slot = order[k];
            PyObject *source = NULL;
            for (Py_ssize_t j = 0; j < picked && source == NULL; j++)
                if (PyLong_AsLong(candidates[j]) == slot->item)
                    source = because[j];
            if (theirs(slot) && source == NULL) {
                PyErr_SetString(PyExc_KeyError, "a fused item neither list holds");
                goto done;
            }
            PyObject *entry = fused_item(slot, items, index, source, ids, reason);
            if (entry == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_KeyError, "a fused item neither list holds");
                goto done;
            }
            if (PyList_Append(out, entry) < 0) {
                Py_DECREF(entry);
                goto done;
            }
            Py_DECREF(entry);
        }
    }
    /* the live items moved out fill a list that would be short */
    for (Py_ssize_t i = 0; i < count && PyList_GET_SIZE(out) < n; i++)
        if (moved[i] && PyList_Append(out, PyList_GET_ITEM(items, i)) < 0)
            goto done;
    result = Py_BuildValue("(OO)", out, picked ? Py_True : Py_False);
done:
    if (candidates != NULL)
        for (Py_ssize_t j = 0; j < picked; j++)
            Py_DECREF(candidates[j]);
    PyMem_Free(candidates);
    PyMem_Free(because);
    PyMem_Free(index);
    PyMem_Free(moved);
    table_close(&table);
    PyMem_Free(order);
    session_close(&session);
    Py_XDECREF(out);
    return result;
}

static PyMethodDef methods[] = {
    {"allowed", allowed, METH_VARARGS,
     "allowed(items, skip, blocked, kind_of, kind, category_of, category, limit, seen, "
     "repeatable): the first limit items the filters of walk pass, seen ones only if "
     "repeatable (never when repeatable is None)."},
    {"with_session", with_session, METH_VARARGS,
     "with_session(items, index_of, newest, neighbours, depth, session_offset, decay, again, "
     "blocked, kind_of, kind, category_of, category, seen, repeatable, weight, offset, n, ids, "
     "reason): response items fused with their session's candidates, and whether there were "
     "any (serving.ranking.with_session)."},
    {"walk", walk, METH_VARARGS,
     "walk(runs, skip, blocked, kind_of, kind, category_of, category, limit, ids): the allowed "
     "items of encoded ranked lists merged best first, as response items."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__walk(void)
{
    ITEM_ID = PyUnicode_InternFromString("item_id");
    SCORE = PyUnicode_InternFromString("score");
    REASON = PyUnicode_InternFromString("reason");
    BECAUSE = PyUnicode_InternFromString("because");
    ROUND = PyUnicode_InternFromString("__round__");
    DIGITS = PyLong_FromLong(4);
    if (ITEM_ID == NULL || SCORE == NULL || REASON == NULL || BECAUSE == NULL || ROUND == NULL ||
        DIGITS == NULL)
        return NULL;
    return PyModule_Create(&module);
}
