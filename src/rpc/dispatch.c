/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RPC methods behind the XML-RPC server (see dispatch.h).  Each method
 * checks its arguments the way a Python method would (count, then types),
 * calls the public engine API and turns the answer into the original's
 * return shape.
 */
#include "rpc/dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/value.h"
#include "rpc/xmlrpc.h"

#define LOGGER "mom.RPCServer"

/* A fault under construction: the message, or NULL while none. */
typedef struct fault {
    char *msg;
    bool nomem;
} fault;

static void set_fault(fault *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fault(fault *f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    mom_free(f->msg);
    f->msg = mom_strdup(buf);
    if (!f->msg)
        f->nomem = true;
}

/* An engine call that failed for a reason other than the ones a method
 * maps to a result. */
static mom_value *engine_fault(fault *f, int rc)
{
    if (rc == -ENOMEM)
        f->nomem = true;
    else
        set_fault(f, "<class 'RuntimeError'>:%s", mom_strerror(rc));
    return NULL;
}

/* Python's name for the type of a value, for TypeError messages. */
static const char *py_type(const mom_value *v)
{
    switch (mom_value_type_of(v)) {
    case MOM_VALUE_NONE: return "NoneType";
    case MOM_VALUE_BOOL: return "bool";
    case MOM_VALUE_INT: return "int";
    case MOM_VALUE_REAL: return "float";
    case MOM_VALUE_STRING: return "str";
    case MOM_VALUE_LIST: return "list";
    case MOM_VALUE_MAP: return "dict";
    }
    return "object";
}

static mom_value *nomem(fault *f, mom_value *v)
{
    if (!v)
        f->nomem = true;
    return v;
}

/* Argument i as text: a string, or NULL for nil when allow_nil.  Anything
 * else sets a TypeError fault and returns false. */
static bool arg_text(const char *method, const mom_value *params, size_t i, bool allow_nil,
                     const char **ret, fault *f)
{
    const mom_value *a = mom_value_at(params, i);
    if (mom_value_type_of(a) == MOM_VALUE_STRING) {
        *ret = mom_value_string(a);
        return true;
    }
    if (allow_nil && mom_value_type_of(a) == MOM_VALUE_NONE) {
        *ret = NULL;
        return true;
    }
    set_fault(f, "<class 'TypeError'>:%s() argument %zu must be str%s, not %s", method, i + 1,
              allow_nil ? " or None" : "", py_type(a));
    return false;
}

/* ---- methods --------------------------------------------------------------- */

typedef struct call_ctx {
    mom_engine *e;
    const mlog *log;
    const char *name;
    const mom_value *params;
} call_ctx;

static mom_value *m_ping(call_ctx *c, fault *f)
{
    return nomem(f, value_new_bool(mom_engine_ping(c->e)));
}

static mom_value *m_get_statistics(call_ctx *c, fault *f)
{
    mom_value *v = NULL;
    int rc = mom_engine_get_statistics(c->e, &v);
    return rc < 0 ? engine_fault(f, rc) : v;
}

static mom_value *m_get_active_guests(call_ctx *c, fault *f)
{
    mom_value *v = NULL;
    int rc = mom_engine_get_active_guests(c->e, &v);
    return rc < 0 ? engine_fault(f, rc) : v;
}

/* getControls (new): the last policy cycle's decisions,
 *   {time, ok, [error], host: {control: value}, guests: {name: {control: value}}}
 * with the values the policy set (before controllers convert or clamp
 * them); {host: {}, guests: {}} before the first cycle. */
static mom_value *m_get_controls(call_ctx *c, fault *f)
{
    mom_value *rep = NULL;
    int rc = mom_engine_get_controls(c->e, &rep);
    if (rc < 0)
        return engine_fault(f, rc);
    mom_value *out = value_new_map();
    if (!out || mom_value_type_of(rep) != MOM_VALUE_MAP) {
        /* before the first cycle: the shape, with nothing decided yet */
        mom_value_unref(rep);
        if (out && (value_map_set(out, "host", value_new_map()) < 0 ||
                    value_map_set(out, "guests", value_new_map()) < 0)) {
            mom_value_unref(out);
            out = NULL;
        }
        return nomem(f, out);
    }
    static const char *const copy[] = {"time", "ok", "error"};
    for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
        const mom_value *v = mom_value_get(rep, copy[i]);
        if (v)
            value_map_set(out, copy[i], mom_value_ref(v));
    }
    const mom_value *hc = mom_value_get(rep, "host_controls");
    value_map_set(out, "host", hc ? mom_value_ref(hc) : value_new_map());
    mom_value *guests = value_new_map();
    const mom_value *gl = mom_value_get(rep, "guests");
    for (size_t i = 0; guests && i < mom_value_len(gl); i++) {
        const mom_value *g = mom_value_at(gl, i);
        const char *name = mom_value_string(mom_value_get(g, "name"));
        const mom_value *ctl = mom_value_get(g, "controls");
        if (name)
            value_map_set(guests, name, ctl ? mom_value_ref(ctl) : value_new_map());
    }
    mom_value_unref(rep);
    if (!guests || value_map_set(out, "guests", guests) < 0) {
        mom_value_unref(out);
        return nomem(f, NULL);
    }
    return out;
}

/* setPolicy and setNamedPolicy: true when the new set runs, false when it
 * did not load (the running set stays). */
static mom_value *policy_outcome(call_ctx *c, fault *f, int rc, char *err)
{
    if (rc == MOM_E_POLICY || rc == MOM_E_NOPOLICY) {
        mlog_msg(c->log, MOM_LOG_WARN, LOGGER, "%s: policy refused: %s", c->name,
                 err ? err : mom_strerror(rc));
        mom_free(err);
        return nomem(f, value_new_bool(false));
    }
    mom_free(err);
    if (rc == -EINVAL) {
        set_fault(f, "<class 'ValueError'>:%s(): invalid argument", c->name);
        return NULL;
    }
    if (rc < 0)
        return engine_fault(f, rc);
    return nomem(f, value_new_bool(true));
}

static mom_value *m_set_policy(call_ctx *c, fault *f)
{
    const char *text;
    if (!arg_text(c->name, c->params, 0, true, &text, f))
        return NULL;
    char *err = NULL;
    int rc = mom_engine_set_policy(c->e, text, &err);
    return policy_outcome(c, f, rc, err);
}

static mom_value *m_set_named_policy(call_ctx *c, fault *f)
{
    const char *name, *text;
    if (!arg_text(c->name, c->params, 0, false, &name, f) ||
        !arg_text(c->name, c->params, 1, true, &text, f))
        return NULL;
    char *err = NULL;
    int rc = mom_engine_set_named_policy(c->e, name, text, &err);
    return policy_outcome(c, f, rc, err);
}

static mom_value *m_get_policy(call_ctx *c, fault *f)
{
    char *text = NULL;
    int rc = mom_engine_get_policy(c->e, &text);
    if (rc < 0)
        return engine_fault(f, rc);
    mom_value *v = value_new_string(text);
    mom_free(text);
    return nomem(f, v);
}

static mom_value *m_get_named_policies(call_ctx *c, fault *f)
{
    mom_value *v = NULL;
    int rc = mom_engine_get_named_policies(c->e, &v);
    return rc < 0 ? engine_fault(f, rc) : v;
}

/* resetPolicies: the reload's result, nil when neither policy nor
 * policy-dir is configured. */
static mom_value *m_reset_policies(call_ctx *c, fault *f)
{
    char *err = NULL;
    int rc = mom_engine_reset_policies(c->e, &err);
    if (rc == -ENOENT) {
        mom_free(err);
        return nomem(f, value_new_none());
    }
    return policy_outcome(c, f, rc, err);
}

/* setVerbosity: a level name or number (as [logging] verbosity); an
 * integer is taken as its decimal text. */
static mom_value *m_set_verbosity(call_ctx *c, fault *f)
{
    const mom_value *a = mom_value_at(c->params, 0);
    char num[32];
    const char *level;
    if (mom_value_type_of(a) == MOM_VALUE_INT) {
        snprintf(num, sizeof(num), "%" PRId64, mom_value_int(a));
        level = num;
    } else if (!arg_text(c->name, c->params, 0, false, &level, f)) {
        return NULL;
    }
    int rc = mom_engine_set_verbosity(c->e, level);
    if (rc < 0)
        return engine_fault(f, rc);
    mlog_msg(c->log, MOM_LOG_INFO, LOGGER, "verbosity set to %s", level);
    return nomem(f, value_new_bool(true));
}

static mom_value *m_list_methods(call_ctx *c, fault *f);
static mom_value *m_method_help(call_ctx *c, fault *f);
static mom_value *m_method_signature(call_ctx *c, fault *f);

typedef struct method {
    const char *name;
    size_t n_args;
    const char *args; /* Python-style names, for "missing argument" faults */
    mom_value *(*fn)(call_ctx *c, fault *f);
    const char *help;
} method;

/* In byte order of name, which is what system.listMethods returns. */
static const method methods[] = {
    {"getActiveGuests", 0, "", m_get_active_guests,
     "Return the names of the guests that have statistics."},
    {"getControls", 0, "", m_get_controls,
     "Return the last policy cycle's decisions: {time, ok, host: {...}, guests: {name: {...}}}."},
    {"getNamedPolicies", 0, "", m_get_named_policies,
     "Return the named policies as a struct name -> policy text."},
    {"getPolicy", 0, "", m_get_policy,
     "Return the policy set as one text (the named policies in name order), or \"0\"."},
    {"getStatistics", 0, "", m_get_statistics,
     "Return the latest statistics: {host: {field: value}, guests: {name: {field: value}}}."},
    {"ping", 0, "", m_ping, "Return true while the engine runs."},
    {"resetPolicies", 0, "", m_reset_policies,
     "Reload the policies from policy or policy-dir; nil when neither is configured."},
    {"setNamedPolicy", 2, "'name' and 'text'", m_set_named_policy,
     "Store text as the named policy (nil deletes it); false when the set does not load."},
    {"setPolicy", 1, "'text'", m_set_policy,
     "Replace every policy by text (nil: no policy); false when it does not load."},
    {"setVerbosity", 1, "'level'", m_set_verbosity,
     "Set the log verbosity: debug, info, warn, error, critical or 5 to 1."},
    {"system.listMethods", 0, "", m_list_methods, "Return the names of the methods."},
    {"system.methodHelp", 1, "'method_name'", m_method_help, "Return the help text of a method."},
    {"system.methodSignature", 1, "'method_name'", m_method_signature,
     "Signatures are not supported."},
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static const method *find_method(const char *name)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

static mom_value *m_list_methods(call_ctx *c, fault *f)
{
    (void)c;
    mom_value *l = value_new_list();
    for (size_t i = 0; l && i < N_METHODS; i++)
        if (value_list_append(l, value_new_string(methods[i].name)) < 0) {
            mom_value_unref(l);
            l = NULL;
        }
    return nomem(f, l);
}

/* system.methodHelp: the help text, "" for an unknown name (as Python). */
static mom_value *m_method_help(call_ctx *c, fault *f)
{
    const char *name;
    if (!arg_text(c->name, c->params, 0, false, &name, f))
        return NULL;
    const method *m = find_method(name);
    return nomem(f, value_new_string(m ? m->help : ""));
}

static mom_value *m_method_signature(call_ctx *c, fault *f)
{
    const char *name;
    if (!arg_text(c->name, c->params, 0, false, &name, f))
        return NULL;
    return nomem(f, value_new_string("signatures not supported"));
}

/* ---- dispatch ---------------------------------------------------------- */

/* A client-chosen name made safe for one log line: control characters
 * become '?', and it is cut to size - 1 bytes. */
static void printable(const char *s, char *buf, size_t size)
{
    size_t i;
    for (i = 0; s[i] && i + 1 < size; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
}

/* Check the argument count as Python would for a method of n_args
 * positional parameters. */
static bool check_count(const method *m, size_t given, fault *f)
{
    if (given == m->n_args)
        return true;
    if (given > m->n_args)
        set_fault(f, "<class 'TypeError'>:%s() takes %zu positional argument%s but %zu %s given",
                  m->name, m->n_args, m->n_args == 1 ? "" : "s", given,
                  given == 1 ? "was" : "were");
    else
        set_fault(f, "<class 'TypeError'>:%s() missing %zu required positional argument%s: %s",
                  m->name, m->n_args - given, m->n_args - given == 1 ? "" : "s", m->args);
    return false;
}

char *dispatch_request(mom_engine *e, const mlog *log, const char *body, size_t len,
                       size_t *ret_len)
{
    xmlrpc_call call = {NULL, NULL};
    fault f = {NULL, false};
    char *err = NULL;
    mom_value *result = NULL;
    char *doc = NULL;

    int rc = xmlrpc_parse_call(body, len, &call, &err);
    if (rc == -ENOMEM)
        goto out;
    if (rc < 0) {
        mlog_msg(log, MOM_LOG_DEBUG, LOGGER, "bad request: %s", err ? err : "invalid");
        set_fault(&f, "<class 'ValueError'>:invalid XML-RPC request: %s",
                  err ? err : "invalid document");
    } else {
        const method *m = find_method(call.method);
        char shown[101];
        printable(call.method, shown, sizeof(shown));
        mlog_msg(log, MOM_LOG_DEBUG, LOGGER, "call %s (%zu arguments)", shown,
                 mom_value_len(call.params));
        if (!m) {
            set_fault(&f, "<class 'Exception'>:method \"%.200s\" is not supported", call.method);
        } else if (check_count(m, mom_value_len(call.params), &f)) {
            call_ctx c = {e, log, m->name, call.params};
            result = m->fn(&c, &f);
        }
    }
    if (f.nomem)
        goto out;
    if (f.msg)
        doc = xmlrpc_format_fault(DISPATCH_FAULT, f.msg, ret_len);
    else
        doc = xmlrpc_format_response(result, ret_len);
out:
    mom_value_unref(result);
    mom_free(f.msg);
    mom_free(err);
    xmlrpc_call_done(&call);
    return doc;
}
